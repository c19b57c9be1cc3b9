/** `/ui/register` (SPEC §10): open sign-up signs in at once; `verify` sends a link; `off` says so. */
import { type FormEvent, useState } from 'react';
import { useApp } from '../app-context.ts';
import { ActionMessages, Field, Message, useAction } from '../components.tsx';
import { Link, useLocation } from '../router.tsx';
import { finishSignIn } from '../session.tsx';

export function RegisterPage() {
  const { api, config } = useApp();
  const { query } = useLocation();
  const redirectTo = query.get('redirect_to');
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const action = useAction();

  if (config.signup === 'off') {
    return (
      <div className="card">
        <Message kind="info">Sign-up is turned off on this server. Ask an administrator for an account.</Message>
        <p>
          <Link to="/ui/login">Sign in</Link>
        </p>
      </div>
    );
  }

  const submit = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      const { status } = await api.anonymous('POST', '/api/auth/register', { username, email, password });
      if (status === 202) {
        setPassword('');
        return `Check your inbox: we sent a link to ${email} to confirm the address. Then you can sign in.`;
      }
      await finishSignIn(api, config, redirectTo);
    });
  };

  return (
    <div className="card">
      <form onSubmit={submit}>
        <Field
          label="Username"
          value={username}
          onChange={setUsername}
          autoComplete="username"
          required
          minLength={3}
          maxLength={50}
          autoFocus
        />
        <Field label="Email" type="email" value={email} onChange={setEmail} autoComplete="email" required maxLength={254} />
        <Field
          label="Password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="new-password"
          required
          minLength={8}
          maxLength={128}
          hint="8 to 128 characters; not a common password."
        />
        <button type="submit" disabled={action.busy}>
          Create account
        </button>
      </form>
      <ActionMessages action={action} />
      <p className="links">
        <Link to="/ui/login">Already have an account? Sign in</Link>
      </p>
    </div>
  );
}
