/** `/ui/reset-password?token=` (SPEC §10): the target of the reset link; every session of the account ends. */
import { type FormEvent, useState } from 'react';
import { useApp } from '../app-context.ts';
import { ActionMessages, Field, Message, useAction } from '../components.tsx';
import { Link, useLocation } from '../router.tsx';

export function ResetPasswordPage() {
  const { api } = useApp();
  const { query } = useLocation();
  const token = query.get('token');
  const [password, setPassword] = useState('');
  const action = useAction('link');
  const [finished, setFinished] = useState(false);
  if (token === null || token === '') {
    return (
      <div className="card">
        <Message kind="error">This page needs the link from your email. Ask for a new one.</Message>
        <p>
          <Link to="/ui/forgot">Send me a link</Link>
        </p>
      </div>
    );
  }
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      await api.anonymous('POST', '/api/auth/password/reset', { token, new_password: password });
      setPassword('');
      setFinished(true);
      return 'Your new password is set, and every session of your account has been signed out. Sign in with the new password.';
    });
  };
  return (
    <div className="card">
      {finished ? null : (
        <form onSubmit={submit}>
          <Field
            label="New password"
            type="password"
            value={password}
            onChange={setPassword}
            autoComplete="new-password"
            required
            minLength={8}
            maxLength={128}
            hint="8 to 128 characters; not a common password."
            autoFocus
          />
          <button type="submit" disabled={action.busy}>
            Set password
          </button>
        </form>
      )}
      <ActionMessages action={action} />
      <p className="links">
        <Link to="/ui/login">Sign in</Link>
        {action.error === null ? null : <Link to="/ui/forgot">Send me a new link</Link>}
      </p>
    </div>
  );
}
