import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PASSWORD, type TestServer, claimsOf, errorOf, matrix, startTestServer } from './support/server.ts';

for (const { style, engine, name } of matrix()) {
  const flat = style === 'flat';

  describe(`verify, me, sessions, password (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine });
      await server.createUser('ada', { email: 'ada@example.com' });
      await server.createUser('zoë-ünicode');
    });
    after(() => server.close());

    const verify = (token: string) => server.request('GET', '/api/auth/verify', { token });
    const refresh = (token: string) => server.request('POST', '/api/auth/refresh', { body: { refresh_token: token } });

    test('verify answers valid with the user and sets forward-auth headers', async () => {
      const { access } = await server.login('ada');
      const id = claimsOf(access).user_id;
      const res = await verify(access);
      assert.equal(res.status, 200);
      if (flat) assert.deepEqual(res.body, { valid: true, user_id: id, username: 'ada', role: 'STANDARD' });
      else assert.deepEqual(res.body.data, { valid: true, userId: id, username: 'ada', role: 'STANDARD' });
      assert.equal(res.headers.get('x-user-id'), String(id));
      assert.equal(res.headers.get('x-user-name'), 'ada');
      assert.equal(res.headers.get('x-user-role'), 'STANDARD');
      // The scheme is case-insensitive.
      const lower = await server.request('GET', '/api/auth/verify', { headers: { authorization: `bearer ${access}` } });
      assert.equal(lower.status, 200);
    });

    test('a username outside ASCII reaches X-User-Name percent-encoded, not as a server error', async () => {
      const { access } = await server.login('zoë-ünicode');
      const res = await verify(access);
      assert.equal(res.status, 200);
      assert.equal(decodeURIComponent(res.headers.get('x-user-name') ?? ''), 'zoë-ünicode');
    });

    test('me returns the current user in the style of the contract', async () => {
      const { access } = await server.login('ada');
      const res = await server.request('GET', '/api/auth/me', { token: access });
      assert.equal(res.status, 200);
      const user = await server.core.users.findByUsername('ada');
      if (flat) {
        assert.deepEqual(res.body, {
          id: user?.id,
          username: 'ada',
          email: 'ada@example.com',
          role: 'STANDARD',
          created_at: Math.floor((user?.createdAt ?? 0) / 1000),
          last_login_at: Math.floor((user?.lastLoginAt ?? 0) / 1000),
          email_verified: true,
        });
      } else {
        assert.deepEqual(Object.keys(res.body.data), ['id', 'username', 'email', 'role', 'createdAt', 'lastLoginAt', 'emailVerified']);
        assert.equal(res.body.data.createdAt, new Date(user?.createdAt ?? 0).toISOString().replace(/\.\d{3}Z$/, 'Z'));
      }
    });

    test('missing and malformed Authorization headers are 401s with the contract messages', async () => {
      const none = await server.request('GET', '/api/auth/me');
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      assert.equal(errorOf(none, style), flat ? 'missing authorization header' : 'UNAUTHORIZED');
      const basic = await server.request('GET', '/api/auth/verify', { headers: { authorization: 'Basic YWRhOnB3' } });
      assert.equal(basic.status, 401);
      if (flat) assert.deepEqual(basic.body, { error: 'invalid authorization header format' });
      else assert.equal(basic.body.error.message, 'Invalid authorization header format');
    });

    test('sessions lists the active sessions with the current one marked; one can be revoked', async () => {
      const a = await server.login('ada');
      const b = await server.login('ada');
      const res = await server.request('GET', '/api/auth/sessions', { token: a.access });
      assert.equal(res.status, 200);
      const items = flat ? res.body.items : res.body.data;
      const mine = items.find((s: { id: string }) => s.id === claimsOf(a.access).sid);
      const theirs = items.find((s: { id: string }) => s.id === claimsOf(b.access).sid);
      assert.equal(mine.current, true);
      assert.equal(theirs.current, false);
      assert.equal(flat ? mine.ip : mine.ip, '127.0.0.1');
      if (flat) assert.equal(typeof mine.last_used_at, 'number');
      else assert.match(mine.lastUsedAt, /Z$/);
      if (!flat) assert.equal(res.body.meta.total, items.length);

      const del = await server.request('DELETE', `/api/auth/sessions/${claimsOf(b.access).sid}`, { token: a.access });
      assert.equal(del.status, 204);
      assert.equal((await verify(b.access)).status, 401);
      assert.equal((await verify(a.access)).status, 200);
      const again = await server.request('DELETE', `/api/auth/sessions/${claimsOf(b.access).sid}`, { token: a.access });
      assert.equal(again.status, 404);
      assert.equal(errorOf(again, style), flat ? 'no such session' : 'NOT_FOUND');
    });

    test("another user's session cannot be revoked through one's own sessions", async () => {
      await server.createUser('eve');
      const eve = await server.login('eve');
      const ada = await server.login('ada');
      const res = await server.request('DELETE', `/api/auth/sessions/${claimsOf(ada.access).sid}`, { token: eve.access });
      assert.equal(res.status, 404);
      assert.equal((await verify(ada.access)).status, 200);
    });

    test('changing the password needs the current one and ends every other session', async () => {
      await server.createUser('carol');
      const here = await server.login('carol');
      const elsewhere = await server.login('carol');
      const next = 'a-brand-new passphrase';
      const body = flat ? { current_password: PASSWORD, new_password: next } : { currentPassword: PASSWORD, newPassword: next };

      const wrong = await server.request('POST', '/api/auth/password', {
        token: here.access,
        body: flat ? { current_password: 'not-it-at-all', new_password: next } : { currentPassword: 'not-it-at-all', newPassword: next },
      });
      assert.equal(wrong.status, 403);
      assert.equal(errorOf(wrong, style), flat ? 'current password is incorrect' : 'FORBIDDEN');
      const weak = await server.request('POST', '/api/auth/password', {
        token: here.access,
        body: flat ? { current_password: PASSWORD, new_password: 'password1' } : { currentPassword: PASSWORD, newPassword: 'password1' },
      });
      assert.equal(weak.status, 400);
      if (flat) assert.deepEqual(weak.body, { error: 'new_password is one of the 10,000 most common passwords' });
      else assert.equal(weak.body.error.details[0].field, 'newPassword');
      const missing = await server.request('POST', '/api/auth/password', { token: here.access, body: { new_password: next } });
      assert.equal(missing.status, 400);

      const ok = await server.request('POST', '/api/auth/password', { token: here.access, body });
      assert.equal(ok.status, 204);
      assert.equal((await verify(here.access)).status, 200, 'the session that changed it stays');
      assert.equal((await refresh(here.refresh)).status, 200);
      assert.equal((await verify(elsewhere.access)).status, 401);
      assert.equal((await refresh(elsewhere.refresh)).status, 401);
      assert.equal((await server.request('POST', '/api/auth/login', { body: { username: 'carol', password: PASSWORD } })).status, 401);
      assert.equal((await server.request('POST', '/api/auth/login', { body: { username: 'carol', password: next } })).status, 200);
    });
  });

  describe(`revocation by account changes (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine });
    });
    after(() => server.close());
    const verify = (token: string) => server.request('GET', '/api/auth/verify', { token });

    for (const change of ['disable', 'delete', 'reset password'] as const) {
      test(`${change} revokes every session of the user at once`, async () => {
        const user = await server.createUser(`user-${change.replace(' ', '-')}`);
        const a = await server.login(user.username);
        const b = await server.login(user.username);
        if (change === 'disable') await server.core.accounts.setDisabled(user.id, true);
        if (change === 'delete') await server.core.accounts.delete(user.id);
        if (change === 'reset password') await server.core.accounts.resetPassword(user.id, 'reset-by-admin passphrase');
        for (const t of [a, b]) {
          assert.equal((await verify(t.access)).status, 401);
          assert.equal((await server.request('GET', '/api/auth/me', { token: t.access })).status, 401);
          assert.equal((await server.request('POST', '/api/auth/refresh', { body: { refresh_token: t.refresh } })).status, 401);
        }
      });
    }
  });
}
