/**
 * The demo page: a login form, then the jobs (from the jobs API, with the access token), the user's
 * sessions (from Latchkey) and a logout button. Two routes in the URL hash: `#/login` and `#/`.
 */
import { LatchkeyError, useAuthClient, useLogin, useLogout, useMe, useSession } from '@latchkey/client/react';
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
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    login.mutate({ username, password }, { onSuccess: () => goTo('/') });
  };
  return (
    <main>
      <h1>Sign in</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <label>
          Username or email
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        </label>
        <button type="submit" disabled={login.isPending}>
          Sign in
        </button>
        {login.error ? (
          <p className="error" role="alert">
            {login.error instanceof LatchkeyError && login.error.code === 'INVALID_CREDENTIALS' ? 'Wrong username or password.' : login.error.message}
          </p>
        ) : null}
      </form>
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
