/**
 * `/ui/login`: password, OpenID providers, passkey, and the second step when the account has a factor
 * (SPEC §11). A signed-in visitor (back from a provider, or a second tab) goes straight on.
 */
import { useSession } from '@latchkey/client/react';
import { type FormEvent, useEffect, useState } from 'react';
import { ApiError, type Obj, field, text } from '../api.ts';
import { useApp } from '../app-context.ts';
import { ActionMessages, Field, Message, useAction } from '../components.tsx';
import { signInWithPasskey, verifyWithPasskey } from '../passkeys.ts';
import { QrCode, RecoveryCodeList } from './Account.tsx';
import { Link, useLocation } from '../router.tsx';
import { finishSignIn, goToDestination } from '../session.tsx';

/** `?error=` codes of the OpenID callback (oidc/errors.ts), as sentences. */
const PROVIDER_ERRORS: Readonly<Record<string, string>> = {
  invalid_state: 'The sign-in took too long or was opened in another browser. Please try again.',
  access_denied: 'The sign-in was cancelled at the provider.',
  invalid_grant: 'The provider did not confirm the sign-in. Please try again.',
  invalid_id_token: 'The provider did not confirm the sign-in. Please try again.',
  email_not_verified: 'The provider has not verified your email address.',
  domain_not_allowed: 'Accounts of your domain may not sign in here.',
  signup_disabled: 'There is no account for you here yet. Ask an administrator.',
  account_disabled: 'This account is disabled.',
  provider_unavailable: 'The provider cannot be reached. Try again in a moment.',
};

interface SecondStep {
  readonly token: string;
  readonly methods: readonly string[];
}

/** A sign-in that must set up a second factor first (LATCHKEY_MFA): its enrolment-only token and the password just typed. */
interface Enrolment {
  readonly token: string;
  readonly password: string;
}

/**
 * The enrolment a policy asks for, with the enrolment-only token (it reaches the enrolment endpoints and nothing
 * else): set up the authenticator app, confirm a code, keep the recovery codes, then sign in again with the app.
 */
function EnrolStep({ enrolment, onDone }: { enrolment: Enrolment; onDone: () => void }) {
  const { api } = useApp();
  const action = useAction('default');
  const [pending, setPending] = useState<{ secret: string; uri: string } | null>(null);
  const [code, setCode] = useState('');
  const [codes, setCodes] = useState<readonly string[] | null>(null);

  const start = () =>
    void action.run(async () => {
      const data = await api.withToken(enrolment.token, 'POST', '/api/auth/mfa/totp', { current_password: enrolment.password });
      setPending({ secret: text(data, 'secret'), uri: text(data, 'otpauth_uri') });
    });
  const confirm = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      const data = await api.withToken(enrolment.token, 'POST', '/api/auth/mfa/totp/confirm', { code: code.trim() });
      const list = field(data, 'recovery_codes');
      setCodes(Array.isArray(list) ? list.map(String) : []);
      setPending(null);
      return 'Your authenticator app is on. Sign in again, with a code from it.';
    });
  };

  return (
    <div className="card">
      <h2>Set up a second factor</h2>
      {codes !== null ? (
        <>
          <RecoveryCodeList codes={codes} />
          <ActionMessages action={action} />
          <button type="button" onClick={onDone}>
            Sign in again
          </button>
        </>
      ) : pending === null ? (
        <>
          <p>
            Your account needs a second factor before you can use it. Set up an authenticator app such as FreeOTP or Google Authenticator.
          </p>
          <button type="button" onClick={start} disabled={action.busy}>
            Set up authenticator app
          </button>
          <ActionMessages action={action} />
        </>
      ) : (
        <form onSubmit={confirm}>
          <p>Scan this code with your app, or type the key below into it. Then enter the 6-digit code it shows.</p>
          <QrCode value={pending.uri} />
          <p>
            Key: <code data-testid="totp-secret">{pending.secret}</code>
          </p>
          <Field label="Code" value={code} onChange={setCode} autoComplete="one-time-code" inputMode="numeric" required autoFocus />
          <button type="submit" disabled={action.busy}>
            Verify
          </button>
          <ActionMessages action={action} />
        </form>
      )}
    </div>
  );
}

function secondStepOf(data: Obj | null): SecondStep | null {
  if (field(data, 'mfa_required') !== true) return null;
  const methods = field(data, 'methods');
  return { token: text(data, 'mfa_token'), methods: Array.isArray(methods) ? methods.map(String) : ['totp'] };
}

export function LoginPage() {
  const { api, config } = useApp();
  const { query, hash } = useLocation();
  const session = useSession();
  const redirectTo = query.get('redirect_to');
  const [identifier, setIdentifier] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [step, setStep] = useState<SecondStep | null>(() => {
    // The browser flow of an OpenID provider hands the second step over in the fragment (SPEC §11).
    const token = new URLSearchParams(hash.replace(/^#/, '')).get('mfa_token');
    return token === null ? null : { token, methods: ['totp', 'recovery_code', 'passkey'] };
  });
  const action = useAction(step === null ? 'default' : 'mfa');
  const [unverified, setUnverified] = useState(false);
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);

  useEffect(() => {
    if (session.status === 'authenticated' && step === null && !action.busy) goToDestination(config, redirectTo);
  }, [session.status, step, action.busy, config, redirectTo]);

  const providerError = query.get('error');

  const signIn = (event: FormEvent) => {
    event.preventDefault();
    setUnverified(false);
    void action.run(async () => {
      const key = identifier.includes('@') ? 'email' : 'username';
      try {
        const { data } = await api.anonymous('POST', '/api/auth/login', { [key]: identifier, password });
        const next = secondStepOf(data);
        if (next !== null) {
          setStep(next);
          setPassword('');
          return;
        }
        if (field(data, 'mfa_enrollment_required') === true) {
          setEnrolment({ token: text(data, 'token'), password });
          setPassword('');
          return;
        }
      } catch (error) {
        if (error instanceof ApiError && error.code === 'EMAIL_NOT_VERIFIED') setUnverified(true);
        throw error;
      }
      await finishSignIn(api, config, redirectTo);
    });
  };

  const verifyCode = (event: FormEvent) => {
    event.preventDefault();
    if (step === null) return;
    void action.run(async () => {
      // Recovery codes are longer than the 6 digits of an authenticator app.
      const value = code.replace(/\s+/g, '');
      await api.anonymous(
        'POST',
        '/api/auth/mfa/verify',
        /^\d{6}$/.test(value) ? { mfa_token: step.token, code: value } : { mfa_token: step.token, recovery_code: value },
      );
      await finishSignIn(api, config, redirectTo);
    });
  };

  const passkeyStep = () => {
    if (step === null) return;
    void action.run(async () => {
      await verifyWithPasskey(api, step.token);
      await finishSignIn(api, config, redirectTo);
    });
  };

  const passkey = () =>
    void action.run(async () => {
      await signInWithPasskey(api);
      await finishSignIn(api, config, redirectTo);
    });

  if (enrolment !== null) return <EnrolStep enrolment={enrolment} onDone={() => setEnrolment(null)} />;

  if (step !== null) {
    return (
      <div className="card">
        <p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
        <form onSubmit={verifyCode}>
          <Field label="Code" value={code} onChange={setCode} autoComplete="one-time-code" inputMode="text" required autoFocus />
          <button type="submit" disabled={action.busy}>
            Verify
          </button>
        </form>
        {step.methods.includes('passkey') ? (
          <button type="button" className="secondary" onClick={passkeyStep} disabled={action.busy}>
            Sign in with a passkey
          </button>
        ) : null}
        <ActionMessages action={action} />
        <p>
          <a href={window.location.pathname + window.location.search} onClick={() => setStep(null)}>
            Start again
          </a>
        </p>
      </div>
    );
  }

  const returnHere = `${window.location.origin}/ui/login${redirectTo === null ? '' : `?redirect_to=${encodeURIComponent(redirectTo)}`}`;
  return (
    <div className="card">
      {providerError === null ? null : (
        <Message kind="error">{PROVIDER_ERRORS[providerError] ?? 'The sign-in with the provider failed. Please try again.'}</Message>
      )}
      <form onSubmit={signIn}>
        <Field label="Username or email" value={identifier} onChange={setIdentifier} autoComplete="username" required autoFocus />
        <Field label="Password" type="password" value={password} onChange={setPassword} autoComplete="current-password" required />
        <button type="submit" disabled={action.busy}>
          Sign in
        </button>
      </form>
      <ActionMessages action={action} />
      {unverified ? (
        <p>
          <Link to="/ui/verify-email">Send me a new link</Link>
        </p>
      ) : null}
      <div className="alternatives">
        <button type="button" className="secondary" onClick={passkey} disabled={action.busy}>
          Sign in with a passkey
        </button>
        {config.providers.map((p) => (
          <a key={p.id} className="button secondary" href={`${p.loginUrl}?redirect_to=${encodeURIComponent(returnHere)}`}>
            Sign in with {p.name}
          </a>
        ))}
      </div>
      <p className="links">
        <Link to="/ui/forgot">Forgot your password?</Link>
        {config.signup === 'off' ? null : (
          <Link to={`/ui/register${redirectTo === null ? '' : `?redirect_to=${encodeURIComponent(redirectTo)}`}`}>Create an account</Link>
        )}
      </p>
    </div>
  );
}
