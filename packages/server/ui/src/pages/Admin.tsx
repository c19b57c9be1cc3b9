/**
 * `/ui/admin` for ADMIN users (SPEC §12): users (search, pages, create, role, disable, reset password,
 * reset factors, sessions), the audit log with filters, and the signing keys (list, rotate).
 */
import { useSession } from '@latchkey/client/react';
import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useId, useState } from 'react';
import { type Obj, type Page, field, instant, text } from '../api.ts';
import { useApp } from '../app-context.ts';
import { ActionMessages, Field, Message, Section, formatInstant, useAction } from '../components.tsx';
import { describeError } from '../messages.ts';
import { RequireSession } from '../session.tsx';

const PAGE_SIZE = 20;

export function AdminPage() {
  return (
    <RequireSession>
      <AdminOnly />
    </RequireSession>
  );
}

function AdminOnly() {
  const session = useSession();
  if (session.session?.user.role !== 'ADMIN') return <Message kind="error">Only administrators can use the console.</Message>;
  return (
    <>
      <nav aria-label="Console" className="subnav">
        <a href="#users">Users</a>
        <a href="#audit">Audit log</a>
        <a href="#keys">Signing keys</a>
      </nav>
      <Users />
      <AuditLog />
      <SigningKeys />
    </>
  );
}

function Pager({ page, onPage, label }: { page: Page<Obj> | undefined; onPage: (page: number) => void; label: string }) {
  if (page === undefined) return null;
  const pages = Math.max(1, Math.ceil(page.total / page.pageSize));
  return (
    <nav aria-label={label} className="pager">
      <button type="button" className="secondary small" onClick={() => onPage(page.page - 1)} disabled={page.page <= 1}>
        Previous page
      </button>
      <span>
        Page {page.page} of {pages} ({page.total} in all)
      </span>
      <button type="button" className="secondary small" onClick={() => onPage(page.page + 1)} disabled={page.page >= pages}>
        Next page
      </button>
    </nav>
  );
}

function RoleSelect({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>Role</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="STANDARD">STANDARD</option>
        <option value="ADMIN">ADMIN</option>
      </select>
    </div>
  );
}

function Users() {
  const { api } = useApp();
  const [search, setSearch] = useState('');
  const [q, setQ] = useState('');
  const [page, setPage] = useState(1);
  const [selected, setSelected] = useState<number | null>(null);
  const users = useQuery({
    queryKey: ['ui', 'admin', 'users', q, page],
    queryFn: () => api.list(`/api/admin/users?q=${encodeURIComponent(q)}&page=${page}&page_size=${PAGE_SIZE}`),
    placeholderData: keepPreviousData,
  });
  const submitSearch = (event: FormEvent) => {
    event.preventDefault();
    setQ(search.trim());
    setPage(1);
  };
  return (
    <>
      <Section title="Users" id="users">
        <form onSubmit={submitSearch} role="search" className="inline">
          <Field label="Search users" type="search" value={search} onChange={setSearch} maxLength={254} />
          <button type="submit">Search</button>
        </form>
        {users.isError ? <Message kind="error">{describeError(users.error)}</Message> : null}
        <ul className="items" data-testid="users">
          {(users.data?.items ?? []).map((u) => {
            const id = Number(field(u, 'id'));
            return (
              <li key={id}>
                <strong>{text(u, 'username')}</strong>
                <span>
                  {text(u, 'email') || 'no email'} · {text(u, 'role')}
                  {field(u, 'disabled') === true ? ' · disabled' : ''}
                </span>
                <button
                  type="button"
                  className="secondary small"
                  onClick={() => setSelected(id)}
                  aria-label={`Manage ${text(u, 'username')}`}
                >
                  Manage
                </button>
              </li>
            );
          })}
        </ul>
        {users.data?.items.length === 0 ? <p>No user matches.</p> : null}
        <Pager page={users.data} onPage={setPage} label="User pages" />
      </Section>
      {selected === null ? null : <UserDetail id={selected} onClose={() => setSelected(null)} />}
      <CreateUser onCreated={(id) => setSelected(id)} />
    </>
  );
}

function CreateUser({ onCreated }: { onCreated: (id: number) => void }) {
  const { api } = useApp();
  const queryClient = useQueryClient();
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState('STANDARD');
  const action = useAction();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      const user = await api.call('POST', '/api/admin/users', {
        username,
        role,
        ...(email.trim() === '' ? {} : { email: email.trim() }),
        ...(password === '' ? {} : { password }),
      });
      const created = username;
      setUsername('');
      setEmail('');
      setPassword('');
      setRole('STANDARD');
      await queryClient.invalidateQueries({ queryKey: ['ui', 'admin', 'users'] });
      onCreated(Number(field(user, 'id')));
      return `User ${created} created.`;
    });
  };
  return (
    <Section title="Create a user">
      <form onSubmit={submit}>
        <Field label="Username" value={username} onChange={setUsername} required minLength={3} maxLength={50} autoComplete="off" />
        <Field label="Email" type="email" value={email} onChange={setEmail} maxLength={254} autoComplete="off" hint="Optional." />
        <Field
          label="Password"
          type="password"
          value={password}
          onChange={setPassword}
          maxLength={128}
          autoComplete="new-password"
          hint="Optional: without one, the user signs in with a provider or a reset link."
        />
        <RoleSelect value={role} onChange={setRole} />
        <button type="submit" disabled={action.busy}>
          Create user
        </button>
      </form>
      <ActionMessages action={action} />
    </Section>
  );
}

function UserDetail({ id, onClose }: { id: number; onClose: () => void }) {
  const { api } = useApp();
  const queryClient = useQueryClient();
  const user = useQuery({ queryKey: ['ui', 'admin', 'user', id], queryFn: () => api.get(`/api/admin/users/${id}`) });
  const sessions = useQuery({
    queryKey: ['ui', 'admin', 'user', id, 'sessions'],
    queryFn: () => api.list(`/api/admin/users/${id}/sessions`),
  });
  const [role, setRole] = useState<string | null>(null);
  const [password, setPassword] = useState('');
  const action = useAction();
  const data = user.data ?? null;
  const username = text(data, 'username');
  const disabled = field(data, 'disabled') === true;
  const mfa = field(data, 'mfa') as Obj | null | undefined;

  const refresh = async () => {
    await queryClient.invalidateQueries({ queryKey: ['ui', 'admin'] });
  };
  const act = (work: () => Promise<unknown>, done: string) =>
    void action.run(async () => {
      await work();
      await refresh();
      return done;
    });

  const saveRole = (event: FormEvent) => {
    event.preventDefault();
    const next = role ?? text(data, 'role');
    act(() => api.call('PATCH', `/api/admin/users/${id}`, { role: next }), `${username} is now ${next}.`);
  };
  const setPasswordOf = (event: FormEvent) => {
    event.preventDefault();
    act(async () => {
      await api.call('POST', `/api/admin/users/${id}/password`, { password });
      setPassword('');
    }, `The password of ${username} is set, and all of their sessions are signed out.`);
  };

  return (
    <Section title={username === '' ? 'User' : `User ${username}`} id="user">
      {user.isError ? <Message kind="error">{describeError(user.error)}</Message> : null}
      {data === null ? null : (
        <>
          <dl className="facts">
            <dt>Id</dt>
            <dd>{id}</dd>
            <dt>Email</dt>
            <dd>{text(data, 'email') || 'none'}</dd>
            <dt>Status</dt>
            <dd data-testid="user-status">{disabled ? 'Disabled' : 'Active'}</dd>
            <dt>Created</dt>
            <dd>{formatInstant(instant(data, 'created_at'))}</dd>
            <dt>Last sign-in</dt>
            <dd>{formatInstant(instant(data, 'last_login_at'))}</dd>
            {mfa === null || mfa === undefined ? null : (
              <>
                <dt>Second factors</dt>
                <dd>
                  {field(mfa, 'totp') === true ? 'authenticator app' : 'no authenticator app'} · {Number(field(mfa, 'passkeys') ?? 0)}{' '}
                  passkey(s)
                </dd>
              </>
            )}
          </dl>
          <form onSubmit={saveRole} className="inline">
            <RoleSelect value={role ?? text(data, 'role')} onChange={setRole} />
            <button type="submit" disabled={action.busy}>
              Save role
            </button>
          </form>
          <div className="row">
            <button
              type="button"
              className={disabled ? '' : 'danger'}
              disabled={action.busy}
              onClick={() =>
                act(
                  () => api.call('PATCH', `/api/admin/users/${id}`, { disabled: !disabled }),
                  disabled ? `${username} is enabled.` : `${username} is disabled and signed out everywhere.`,
                )
              }
            >
              {disabled ? 'Enable user' : 'Disable user'}
            </button>
            <button
              type="button"
              className="secondary"
              disabled={action.busy}
              onClick={() =>
                act(() => api.call('DELETE', `/api/admin/users/${id}/factors`), `The second factors of ${username} are removed.`)
              }
            >
              Reset factors
            </button>
          </div>
          <form onSubmit={setPasswordOf}>
            <Field
              label="New password"
              type="password"
              value={password}
              onChange={setPassword}
              autoComplete="new-password"
              required
              minLength={8}
              maxLength={128}
            />
            <button type="submit" disabled={action.busy}>
              Set password
            </button>
          </form>
          <h3>Sessions</h3>
          {sessions.isError ? <Message kind="error">{describeError(sessions.error)}</Message> : null}
          <ul className="items" data-testid="user-sessions">
            {(sessions.data?.items ?? []).map((s) => (
              <li key={text(s, 'id')}>
                <strong>{text(s, 'user_agent') || 'Unknown device'}</strong>
                <span>
                  {text(s, 'ip') || 'unknown address'} · last used {formatInstant(instant(s, 'last_used_at'))}
                </span>
              </li>
            ))}
          </ul>
          {sessions.data?.items.length === 0 ? <p>No active session.</p> : null}
          <button
            type="button"
            className="secondary"
            disabled={action.busy || sessions.data?.items.length === 0}
            onClick={() => act(() => api.call('DELETE', `/api/admin/users/${id}/sessions`), `Every session of ${username} is signed out.`)}
          >
            Revoke all sessions
          </button>
        </>
      )}
      <ActionMessages action={action} />
      <p>
        <button type="button" className="secondary small" onClick={onClose}>
          Close
        </button>
      </p>
    </Section>
  );
}

/** A `datetime-local` value (the browser's local time) as ISO-8601 UTC, which the audit API takes. */
function isoOf(local: string): string | null {
  if (local === '') return null;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? null : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function AuditLog() {
  const { api } = useApp();
  const [userId, setUserId] = useState('');
  const [type, setType] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [filters, setFilters] = useState('');
  const [page, setPage] = useState(1);
  const events = useQuery({
    queryKey: ['ui', 'admin', 'audit', filters, page],
    queryFn: () => api.list(`/api/admin/audit?${filters}${filters === '' ? '' : '&'}page=${page}&page_size=${PAGE_SIZE}`),
    placeholderData: keepPreviousData,
  });
  const apply = (event: FormEvent) => {
    event.preventDefault();
    const params = new URLSearchParams();
    if (userId.trim() !== '') params.set('user_id', userId.trim());
    if (type.trim() !== '') params.set('type', type.trim());
    const from = isoOf(since);
    const to = isoOf(until);
    if (from !== null) params.set('since', from);
    if (to !== null) params.set('until', to);
    setFilters(params.toString());
    setPage(1);
  };
  return (
    <Section title="Audit log" id="audit">
      <form onSubmit={apply} className="filters">
        <Field label="User id" value={userId} onChange={setUserId} inputMode="numeric" />
        <Field label="Event type" value={type} onChange={setType} hint="e.g. login_failed, role_changed" />
        <Field label="Since" type="datetime-local" value={since} onChange={setSince} />
        <Field label="Until" type="datetime-local" value={until} onChange={setUntil} />
        <button type="submit">Apply filters</button>
      </form>
      {events.isError ? <Message kind="error">{describeError(events.error)}</Message> : null}
      <ul className="items" data-testid="audit">
        {(events.data?.items ?? []).map((e) => (
          <li key={text(e, 'id')}>
            <strong>{text(e, 'type')}</strong>
            <span>
              {formatInstant(instant(e, 'at'))} · user {text(e, 'user_id') || '—'} · by {text(e, 'actor_user_id') || 'CLI'} ·{' '}
              {text(e, 'ip') || 'no address'}
            </span>
            {field(e, 'details') === null || field(e, 'details') === undefined ? null : (
              <code className="details">{JSON.stringify(field(e, 'details'))}</code>
            )}
          </li>
        ))}
      </ul>
      {events.data?.items.length === 0 ? <p>No event matches.</p> : null}
      <Pager page={events.data} onPage={setPage} label="Audit pages" />
    </Section>
  );
}

function SigningKeys() {
  const { api } = useApp();
  const queryClient = useQueryClient();
  const keys = useQuery({ queryKey: ['ui', 'admin', 'keys'], queryFn: () => api.list('/api/admin/keys') });
  const action = useAction();
  const rotate = () =>
    void action.run(async () => {
      const rotation = await api.call('POST', '/api/admin/keys/rotate');
      await queryClient.invalidateQueries({ queryKey: ['ui', 'admin', 'keys'] });
      return `New signing key ${text(rotation, 'kid')}. The old keys keep verifying until ${formatInstant(instant(rotation, 'verify_until'))}.`;
    });
  return (
    <Section title="Signing keys" id="keys">
      {keys.isError ? <Message kind="error">{describeError(keys.error)}</Message> : null}
      <ul className="items" data-testid="keys">
        {(keys.data?.items ?? []).map((k) => (
          <li key={text(k, 'kid')}>
            <strong>
              <code>{text(k, 'kid')}</code>
            </strong>
            <span>
              {text(k, 'alg')} · {text(k, 'state')} · created {formatInstant(instant(k, 'created_at'))}
              {instant(k, 'expires_at') === null ? '' : ` · verifies until ${formatInstant(instant(k, 'expires_at'))}`}
            </span>
          </li>
        ))}
      </ul>
      <button type="button" onClick={rotate} disabled={action.busy}>
        Rotate signing key
      </button>
      <ActionMessages action={action} />
    </Section>
  );
}
