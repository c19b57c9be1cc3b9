/**
 * `/ui/verify-email?token=` (SPEC §10): confirms an address (sign-up or change) and signs in (a user with a
 * second factor finishes on the sign-in page, whose second step this page hands the mfa_token to). The token is
 * posted only when the person presses "Verify": mail scanners that open links must not spend it.
 * Without a token, or after a failure, a new link can be asked for.
 */
import { type FormEvent, useState } from 'react';
import { field, text } from '../api.ts';
import { useApp } from '../app-context.ts';
import { ActionMessages, Field, useAction } from '../components.tsx';
import { Link, navigate, useLocation } from '../router.tsx';
import { finishSignIn } from '../session.tsx';

export function VerifyEmailPage() {
  const { api, config } = useApp();
  const { query } = useLocation();
  const token = query.get('token');
  const verify = useAction('link');
  const resend = useAction();
  const [email, setEmail] = useState('');

  const confirm = (event: FormEvent) => {
    event.preventDefault();
    void verify.run(async () => {
      const { data } = await api.anonymous('POST', '/api/auth/email/verify', { token });
      const redirectTo = query.get('redirect_to');
      // A link proves the mailbox, not a second factor (SPEC §11): the sign-in page takes the second step
      // over, as it does after an OpenID provider's redirect.
      if (field(data, 'mfa_required') === true) {
        const after = redirectTo === null ? '' : `?${new URLSearchParams({ redirect_to: redirectTo })}`;
        navigate(`/ui/login${after}#${new URLSearchParams({ mfa_token: text(data, 'mfa_token') })}`, { replace: true });
        return;
      }
      if (field(data, 'mfa_enrollment_required') === true) {
        return 'Your address is confirmed. This account needs a second factor: sign in to set one up.';
      }
      await finishSignIn(api, config, redirectTo);
    });
  };
  const sendAgain = (event: FormEvent) => {
    event.preventDefault();
    void resend.run(async () => {
      await api.anonymous('POST', '/api/auth/email/resend', { email });
      return `If ${email} is waiting to be confirmed, a new link is on its way.`;
    });
  };

  return (
    <>
      {token === null || token === '' ? null : (
        <div className="card">
          <p>Confirm your email address to finish.</p>
          <form onSubmit={confirm}>
            <button type="submit" disabled={verify.busy}>
              Verify
            </button>
          </form>
          <ActionMessages action={verify} />
        </div>
      )}
      <div className="card">
        <h2>Need a new link?</h2>
        <form onSubmit={sendAgain}>
          <Field label="Email" type="email" value={email} onChange={setEmail} autoComplete="email" required maxLength={254} />
          <button type="submit" disabled={resend.busy}>
            Send link
          </button>
        </form>
        <ActionMessages action={resend} />
        <p className="links">
          <Link to="/ui/login">Sign in</Link>
        </p>
      </div>
    </>
  );
}
