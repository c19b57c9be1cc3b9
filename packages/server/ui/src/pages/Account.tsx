/**
 * `/ui/account` (SPEC §12): profile, change password, email, sessions ("Sign out everywhere else"), the
 * authenticator app (QR code drawn here as SVG, the secret as text), recovery codes and passkeys.
 */
import { useAuthClient } from '@latchkey/client/react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import QRCode from 'qrcode';
import { type FormEvent, useEffect, useState } from 'react';
import { type Obj, field, instant, text } from '../api.ts';
import { useApp } from '../app-context.ts';
import { ActionMessages, Field, Message, Section, formatInstant, useAction } from '../components.tsx';
import { describeError } from '../messages.ts';
import { addPasskey } from '../passkeys.ts';
import { RequireSession } from '../session.tsx';

export function AccountPage() {
  return (
    <RequireSession>
      <Profile />
      <ChangePassword />
      <ChangeEmail />
      <Sessions />
      <Authenticator />
      <RecoveryCodes />
      <Passkeys />
    </RequireSession>
  );
}

function Profile() {
  const { api } = useApp();
  const me = useQuery({ queryKey: ['ui', 'me'], queryFn: () => api.get('/api/auth/me') });
  const user = me.data ?? null;
  const verified = field(user, 'email_verified');
  const resend = useAction();
  const sendVerification = () =>
    void resend.run(async () => {
      await api.anonymous('POST', '/api/auth/email/resend', { email: text(user, 'email') });
      return `A new link to confirm ${text(user, 'email')} is on its way.`;
    });
  return (
    <Section title="Profile">
      {me.isError ? <Message kind="error">{describeError(me.error)}</Message> : null}
      {user === null ? (
        me.isError ? null : (
          <p role="status">Loading…</p>
        )
      ) : (
        <dl className="facts">
          <dt>Username</dt>
          <dd data-testid="profile-username">{text(user, 'username')}</dd>
          <dt>Email</dt>
          <dd>
            {text(user, 'email') || 'none'}
            {text(user, 'email') !== '' && verified === false ? ' (not verified)' : ''}
            {text(user, 'email') !== '' && verified === true ? ' (verified)' : ''}
          </dd>
          <dt>Role</dt>
          <dd>{text(user, 'role')}</dd>
          <dt>Member since</dt>
          <dd>{formatInstant(instant(user, 'created_at'))}</dd>
          <dt>Last sign-in</dt>
          <dd>{formatInstant(instant(user, 'last_login_at'))}</dd>
        </dl>
      )}
      {text(user, 'email') !== '' && verified === false ? (
        <button type="button" className="secondary" onClick={sendVerification} disabled={resend.busy}>
          Send a new verification link
        </button>
      ) : null}
      <ActionMessages action={resend} />
    </Section>
  );
}

function ChangePassword() {
  const { api } = useApp();
  const queryClient = useQueryClient();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const action = useAction();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      await api.call('POST', '/api/auth/password', { current_password: current, new_password: next });
      setCurrent('');
      setNext('');
      await queryClient.invalidateQueries({ queryKey: ['ui', 'sessions'] });
      return 'Your password is changed. Your other sessions have been signed out.';
    });
  };
  return (
    <Section title="Change password">
      <form onSubmit={submit}>
        <Field label="Current password" type="password" value={current} onChange={setCurrent} autoComplete="current-password" required />
        <Field
          label="New password"
          type="password"
          value={next}
          onChange={setNext}
          autoComplete="new-password"
          required
          minLength={8}
          maxLength={128}
          hint="8 to 128 characters; not a common password."
        />
        <button type="submit" disabled={action.busy}>
          Set password
        </button>
      </form>
      <ActionMessages action={action} />
    </Section>
  );
}

function ChangeEmail() {
  const { api } = useApp();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const action = useAction();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      await api.call('POST', '/api/auth/email/change', { new_email: email, current_password: password });
      setPassword('');
      return `We sent a link to ${email}. Your address changes when you follow it.`;
    });
  };
  return (
    <Section title="Email">
      <form onSubmit={submit}>
        <Field
          label="Email"
          type="email"
          value={email}
          onChange={setEmail}
          autoComplete="email"
          required
          maxLength={254}
          hint="The new address; it changes once you follow the link we send there."
        />
        <Field label="Current password" type="password" value={password} onChange={setPassword} autoComplete="current-password" required />
        <button type="submit" disabled={action.busy}>
          Send link
        </button>
      </form>
      <ActionMessages action={action} />
    </Section>
  );
}

function Sessions() {
  const { api } = useApp();
  const auth = useAuthClient();
  const queryClient = useQueryClient();
  const sessions = useQuery({ queryKey: ['ui', 'sessions'], queryFn: () => auth.sessions() });
  const action = useAction();
  const revoke = (ids: readonly string[], done: string) =>
    void action.run(async () => {
      for (const id of ids) await api.call('DELETE', `/api/auth/sessions/${encodeURIComponent(id)}`);
      await queryClient.invalidateQueries({ queryKey: ['ui', 'sessions'] });
      return done;
    });
  const list = sessions.data ?? [];
  const others = list.filter((s) => !s.current).map((s) => s.id);
  return (
    <Section title="Sessions">
      {sessions.isError ? <Message kind="error">{describeError(sessions.error)}</Message> : null}
      <ul className="items" data-testid="sessions">
        {list.map((s) => (
          <li key={s.id}>
            <strong>{s.current ? 'This browser' : (s.userAgent ?? 'Unknown device')}</strong>
            <span>
              {s.ip ?? 'unknown address'} · last used {formatInstant(new Date(s.lastUsedAt))}
            </span>
            {s.current ? null : (
              <button
                type="button"
                className="secondary small"
                onClick={() => revoke([s.id], 'That session is signed out.')}
                disabled={action.busy}
                aria-label={`Revoke session from ${s.ip ?? 'unknown address'}`}
              >
                Revoke
              </button>
            )}
          </li>
        ))}
      </ul>
      <button
        type="button"
        onClick={() => revoke(others, `Signed out everywhere else (${others.length} session${others.length === 1 ? '' : 's'}).`)}
        disabled={action.busy || others.length === 0}
      >
        Sign out everywhere else
      </button>
      <ActionMessages action={action} />
    </Section>
  );
}

/** A QR code of `value`, drawn here as an SVG element (no image from elsewhere, nothing the CSP refuses). */
export function QrCode({ value }: { value: string }) {
  const [svg, setSvg] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    void QRCode.toString(value, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' }).then((s) => live && setSvg(s));
    return () => {
      live = false;
    };
  }, [value]);
  if (svg === null) return null;
  // The SVG is made by the qrcode library from our own data (paths and fills only, no script).
  return <div className="qr" role="img" aria-label="QR code for your authenticator app" dangerouslySetInnerHTML={{ __html: svg }} />;
}

export function RecoveryCodeList({ codes }: { codes: readonly string[] }) {
  return (
    <>
      <Message kind="info">Keep these recovery codes somewhere safe. Each one works once, and they are not shown again.</Message>
      <ul className="codes" data-testid="recovery-codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ul>
    </>
  );
}

function Authenticator() {
  const { api } = useApp();
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [offCode, setOffCode] = useState('');
  const [pending, setPending] = useState<{ secret: string; uri: string } | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const action = useAction();
  const start = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      const data = await api.call('POST', '/api/auth/mfa/totp', { current_password: password });
      setPassword('');
      setPending({ secret: text(data, 'secret'), uri: text(data, 'otpauth_uri') });
    });
  };
  const confirm = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      const data = await api.call('POST', '/api/auth/mfa/totp/confirm', { code: code.trim() });
      setCode('');
      setPending(null);
      setCodes(((field(data, 'recovery_codes') as Obj[] | undefined) ?? []).map(String));
      return 'Your authenticator app is on. Signing in now asks for a code.';
    });
  };
  const turnOff = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      await api.call('DELETE', '/api/auth/mfa/totp', { code: offCode.trim() });
      setOffCode('');
      return 'Your authenticator app is off.';
    });
  };
  return (
    <Section title="Authenticator app">
      {pending === null ? (
        <form onSubmit={start}>
          <p>Use an app such as FreeOTP or Google Authenticator for a code at each sign-in.</p>
          <Field
            label="Current password"
            type="password"
            value={password}
            onChange={setPassword}
            autoComplete="current-password"
            required
          />
          <button type="submit" disabled={action.busy}>
            Set up authenticator app
          </button>
        </form>
      ) : (
        <form onSubmit={confirm}>
          <p>Scan this code with your app, or type the key below into it. Then enter the 6-digit code it shows.</p>
          <QrCode value={pending.uri} />
          <p>
            Key: <code data-testid="totp-secret">{pending.secret}</code>
          </p>
          <Field label="Code" value={code} onChange={setCode} autoComplete="one-time-code" inputMode="numeric" required />
          <button type="submit" disabled={action.busy}>
            Verify
          </button>
        </form>
      )}
      {codes === null ? null : <RecoveryCodeList codes={codes} />}
      <ActionMessages action={action} />
      {pending !== null ? null : (
        // Not while enrolling: one "Code" field per step, so the page (and a screen reader) is never ambiguous.
        <details>
          <summary>Turn the authenticator app off</summary>
          <form onSubmit={turnOff}>
            <Field label="Code" value={offCode} onChange={setOffCode} autoComplete="one-time-code" required />
            <button type="submit" className="secondary" disabled={action.busy}>
              Turn off
            </button>
          </form>
        </details>
      )}
    </Section>
  );
}

function RecoveryCodes() {
  const { api } = useApp();
  const [code, setCode] = useState('');
  const [codes, setCodes] = useState<string[] | null>(null);
  const action = useAction();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      const data = await api.call('POST', '/api/auth/mfa/recovery-codes', { code: code.trim() });
      setCode('');
      setCodes(((field(data, 'recovery_codes') as Obj[] | undefined) ?? []).map(String));
      return 'New recovery codes are ready; the old ones no longer work.';
    });
  };
  return (
    <Section title="Recovery codes">
      <form onSubmit={submit}>
        <Field
          label="Code"
          value={code}
          onChange={setCode}
          autoComplete="one-time-code"
          required
          hint="A code from your authenticator app."
        />
        <button type="submit" disabled={action.busy}>
          New recovery codes
        </button>
      </form>
      {codes === null ? null : <RecoveryCodeList codes={codes} />}
      <ActionMessages action={action} />
    </Section>
  );
}

/** A list answer in either style: the envelope's `data` array, or flat `{items}` or a bare array. */
function listOf(data: Obj | null): Obj[] {
  if (Array.isArray(data)) return data as Obj[];
  const items = field(data, 'items') ?? field(data, 'passkeys');
  return Array.isArray(items) ? (items as Obj[]) : [];
}

function Passkeys() {
  const { api } = useApp();
  const queryClient = useQueryClient();
  const passkeys = useQuery({ queryKey: ['ui', 'passkeys'], queryFn: async () => listOf(await api.get('/api/auth/passkeys')) });
  const [name, setName] = useState('');
  const action = useAction();
  const add = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      await addPasskey(api, name);
      setName('');
      await queryClient.invalidateQueries({ queryKey: ['ui', 'passkeys'] });
      return 'Passkey added. You can now sign in with it.';
    });
  };
  const remove = (id: string) =>
    void action.run(async () => {
      await api.call('DELETE', `/api/auth/passkeys/${encodeURIComponent(id)}`);
      await queryClient.invalidateQueries({ queryKey: ['ui', 'passkeys'] });
      return 'Passkey removed.';
    });
  return (
    <Section title="Passkeys">
      {passkeys.isError ? <Message kind="error">{describeError(passkeys.error)}</Message> : null}
      <ul className="items" data-testid="passkeys">
        {(passkeys.data ?? []).map((p) => (
          <li key={text(p, 'id')}>
            <strong>{text(p, 'name') || 'Passkey'}</strong>
            <span>added {formatInstant(instant(p, 'created_at'))}</span>
            <button
              type="button"
              className="secondary small"
              onClick={() => remove(text(p, 'id'))}
              disabled={action.busy}
              aria-label={`Remove passkey ${text(p, 'name') || text(p, 'id')}`}
            >
              Remove
            </button>
          </li>
        ))}
      </ul>
      <form onSubmit={add}>
        <Field label="Passkey name" value={name} onChange={setName} maxLength={64} hint="Optional, e.g. “Work laptop”." />
        <button type="submit" disabled={action.busy}>
          Add passkey
        </button>
      </form>
      <ActionMessages action={action} />
    </Section>
  );
}
