/**
 * The demo page: a login form (password, then a second factor when the user has one, or a passkey alone),
 * then the jobs (from the jobs API, with the access token), the user's sessions and passkeys (from Latchkey)
 * and a logout button. Two routes in the URL hash: `#/login` and `#/`.
 */
import {
  type AuthSession,
  LatchkeyError,
  type SecondStepRequired,
  useAuthClient,
  useLogin,
  useLogout,
  useMe,
  usePasskeyLogin,
  usePasskeys,
  useRegisterPasskey,
  useSession,
  useVerifySecondStep,
} from '@latchkey/client/react';
import { useQuery } from '@tanstack/react-query';
import { type FormEvent, useEffect, useState } from 'react';

export interface PageConfig {
  readonly authUrl: string;
  readonly apiUrl: string;
  readonly style: 'flat' | 'envelope';
}

interface Job {
  readonly id: number;
  readonly title: string;
  readonly company: string;
  readonly status: string;
}

export function goTo(route: '/login' | '/'): void {
  if (window.location.hash !== `#${route}`) window.location.hash = route;
}

function useRoute(): string {
  const [route, setRoute] = useState(window.location.hash.slice(1) || '/');
  useEffect(() => {
    const onChange = () => setRoute(window.location.hash.slice(1) || '/');
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function App({ config }: { config: PageConfig }) {
  const route = useRoute();
  const { status } = useSession();
  useEffect(() => {
    if (status === 'unauthenticated' && route !== '/login') goTo('/login');
    if (status === 'authenticated' && route === '/login') goTo('/');
  }, [status, route]);

  if (status === 'loading') return <p className="muted">Loading…</p>;
  if (status === 'unauthenticated' || route === '/login') return <LoginPage />;
  return <Dashboard config={config} />;
}

function LoginPage() {
  const login = useLogin();
  const passkeyLogin = usePasskeyLogin();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [step, setStep] = useState<SecondStepRequired<AuthSession> | null>(null);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    login.mutate(
      { username, password },
      {
        onSuccess: (result) => {
          // A user with a second factor is not signed in yet: ask for it.
          if (result.mfaRequired) setStep(result);
          else if (!result.mfaEnrollmentRequired) goTo('/');
        },
      },
    );
  };
  if (step !== null) return <SecondStepForm step={step} />;
  return (
    <main>
      <h1>Sign in</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <label>
          Username or email
          <input name="username" autoComplete="username webauthn" value={username} onChange={(e) => setUsername(e.target.value)} required />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        <button type="submit" disabled={login.isPending}>
          Sign in
        </button>
        {login.data?.mfaEnrollmentRequired ? (
          <p className="error" role="alert">
            This account must set up a second factor first.
          </p>
        ) : null}
        {login.error ? (
          <p className="error" role="alert">
            {login.error instanceof LatchkeyError && login.error.code === 'INVALID_CREDENTIALS'
              ? 'Wrong username or password.'
              : login.error.message}
          </p>
        ) : null}
      </form>
      <p>
        <button
          type="button"
          onClick={() => passkeyLogin.mutate(undefined, { onSuccess: () => goTo('/') })}
          disabled={passkeyLogin.isPending}
        >
          Continue with a passkey
        </button>
      </p>
      {passkeyLogin.error ? (
        <p className="error" role="alert">
          {passkeyLogin.error.message}
        </p>
      ) : null}
    </main>
  );
}

/** The second step: a code from the authenticator app (or a recovery code), or a passkey. */
function SecondStepForm({ step }: { step: SecondStepRequired<AuthSession> }) {
  const verify = useVerifySecondStep();
  const [code, setCode] = useState('');
  const done = { onSuccess: () => goTo('/') };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    verify.mutate({ step, factor: /^\d{6}$/.test(code) ? { code } : { recoveryCode: code } }, done);
  };
  return (
    <main>
      <h1>Second step</h1>
      {step.methods.includes('totp') ? (
        <form onSubmit={submit} aria-label="Second step">
          <label>
            Code from your app, or a recovery code
            <input name="code" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} required />
          </label>
          <button type="submit" disabled={verify.isPending}>
            Verify
          </button>
        </form>
      ) : null}
      {step.methods.includes('passkey') ? (
        <button type="button" onClick={() => verify.mutate({ step, factor: { passkey: true } }, done)} disabled={verify.isPending}>
          Use a passkey
        </button>
      ) : null}
      {verify.error ? (
        <p className="error" role="alert">
          {verify.error.message}
        </p>
      ) : null}
    </main>
  );
}

function Dashboard({ config }: { config: PageConfig }) {
  const auth = useAuthClient();
  const me = useMe();
  const logout = useLogout();
  const jobs = useQuery({
    queryKey: ['jobs'],
    queryFn: async (): Promise<Job[]> => {
      const response = await auth.fetch(`${config.apiUrl}/api/jobs`);
      if (!response.ok) throw new Error(`jobs API answered ${response.status}`);
      return ((await response.json()) as { jobs: Job[] }).jobs;
    },
  });
  const sessions = useQuery({ queryKey: ['sessions'], queryFn: () => auth.sessions() });
  const { session } = useSession();
  const passkeys = usePasskeys();
  const addPasskey = useRegisterPasskey();

  return (
    <main>
      <header>
        <span data-testid="who">{me.data ? `Signed in as ${me.data.username} (${me.data.role})` : 'Signed in'}</span>
        <button type="button" onClick={() => logout.mutate()} disabled={logout.isPending}>
          Log out
        </button>
      </header>

      <section>
        <h2>Jobs</h2>
        <button type="button" onClick={() => void jobs.refetch()}>
          Reload jobs
        </button>
        {jobs.isError ? <p className="error">{jobs.error.message}</p> : null}
        <table>
          <tbody data-testid="jobs">
            {(jobs.data ?? []).map((job) => (
              <tr key={job.id}>
                <td>{job.title}</td>
                <td>{job.company}</td>
                <td>{job.status}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="muted" data-testid="jobs-updated">
          {jobs.dataUpdatedAt ? `Updated ${new Date(jobs.dataUpdatedAt).toLocaleTimeString()}` : ''}
        </p>
      </section>

      <section>
        <h2>Passkeys</h2>
        <p className="muted" data-testid="amr">
          Signed in with: {session?.amr.join(' ') ?? ''}
        </p>
        <ul data-testid="passkeys">
          {(passkeys.data ?? []).map((p) => (
            <li key={p.id}>{p.name}</li>
          ))}
        </ul>
        <button type="button" onClick={() => addPasskey.mutate({ name: 'This browser' })} disabled={addPasskey.isPending}>
          Add a passkey
        </button>
        {addPasskey.error ? (
          <p className="error" role="alert">
            {addPasskey.error.message}
          </p>
        ) : null}
      </section>

      <section>
        <h2>Your sessions</h2>
        <ul data-testid="sessions">
          {(sessions.data ?? []).map((s) => (
            <li key={s.id}>
              {s.current ? 'This browser' : (s.userAgent ?? 'Unknown device')} · since {new Date(s.createdAt).toLocaleString()}
            </li>
          ))}
        </ul>
      </section>
    </main>
  );
}
