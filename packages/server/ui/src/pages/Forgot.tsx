/** `/ui/forgot` (SPEC §10): asks for a reset link; the answer is the same whether or not the account exists. */
import { type FormEvent, useState } from 'react';
import { useApp } from '../app-context.ts';
import { ActionMessages, Field, useAction } from '../components.tsx';
import { Link } from '../router.tsx';

export function ForgotPage() {
  const { api } = useApp();
  const [email, setEmail] = useState('');
  const action = useAction();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      await api.anonymous('POST', '/api/auth/password/forgot', { email });
      return `If an account uses ${email}, a link to set a new password is on its way. It works for a short time only.`;
    });
  };
  return (
    <div className="card">
      <p>Enter the email address of your account and we will send you a link to set a new password.</p>
      <form onSubmit={submit}>
        <Field label="Email" type="email" value={email} onChange={setEmail} autoComplete="email" required maxLength={254} autoFocus />
        <button type="submit" disabled={action.busy}>
          Send link
        </button>
      </form>
      <ActionMessages action={action} />
      <p className="links">
        <Link to="/ui/login">Back to sign-in</Link>
      </p>
    </div>
  );
}
