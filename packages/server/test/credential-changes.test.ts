/**
 * Issue 10 items 1–3: no session outlives a password change, a reset, a disable or a deletion, however a
 * login with the old password overlaps it; a login racing a deletion is a plain 401; and the current
 * password that `POST /password` asks for is limited and audited like a login.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { User } from '../src/auth/users.ts';
import { type HttpResult, PASSWORD, type TestServer, claimsOf, errorOf, matrix, startTestServer, tokensOf } from './support/server.ts';

const NEW_PASSWORD = 'an entirely new passphrase 42';
/** Rounds per race: each one is a login and a change sent together; a single surviving session fails the test. */
const ROUNDS = 12;

type Tokens = { access: string; refresh: string };

for (const { style, engine, name } of matrix()) {
  describe(`no session outlives a credential change (${name})`, () => {
    let server: TestServer;
    let admin: string;
    before(async () => {
      server = await startTestServer({ style, engine });
      admin = (await server.login('root', 'root-password-for-tests')).access;
    });
    after(() => server.close());

    /** Everything a holder of these tokens could still do: /verify, /me, refresh, and resource servers via the feed. */
    async function assertDead(tokens: Tokens, what: string): Promise<void> {
      assert.equal((await server.request('GET', '/api/auth/verify', { token: tokens.access })).status, 401, `${what}: /verify`);
      assert.equal((await server.request('GET', '/api/auth/me', { token: tokens.access })).status, 401, `${what}: /me`);
      assert.equal(
        (await server.request('POST', '/api/auth/refresh', { body: { refresh_token: tokens.refresh } })).status,
        401,
        `${what}: refresh`,
      );
      // What the revocation feed tells resource servers.
      assert.ok(server.core.revocations.has(claimsOf(tokens.access).sid), `${what}: announced on the revocation feed`);
    }

    const liveSessions = async (userId: number) =>
      (
        await server.core.store.db
          .selectFrom('sessions')
          .select('id')
          .where('user_id', '=', userId)
          .where('revoked_at', 'is', null)
          .execute()
      ).map((r) => r.id);

    const changes: Record<string, { status: number; run: (user: User, own: Tokens) => Promise<HttpResult> }> = {
      'an admin password reset': {
        status: 204,
        run: (user) => server.request('POST', `/api/admin/users/${user.id}/password`, { token: admin, body: { password: NEW_PASSWORD } }),
      },
      'an admin disable': {
        status: 200,
        run: (user) => server.request('PATCH', `/api/admin/users/${user.id}`, { token: admin, body: { disabled: true } }),
      },
      'a self-service password change': {
        status: 204,
        run: (_user, own) =>
          server.request('POST', '/api/auth/password', {
            token: own.access,
            body:
              style === 'flat'
                ? { current_password: PASSWORD, new_password: NEW_PASSWORD }
                : { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
          }),
      },
    };

    for (const [what, change] of Object.entries(changes)) {
      test(`a login with the old password racing ${what} never leaves a working session (${ROUNDS} rounds)`, async () => {
        const slug = what.replace(/\W+/g, '-');
        for (let round = 1; round <= ROUNDS; round++) {
          const user = await server.createUser(`race-${slug}-${round}`);
          // The session that makes a self-service change (it survives it, SPEC §4).
          const own = tokensOf((await server.login(user.username)).result, style);
          const [login, changed] = await Promise.all([
            server.request('POST', '/api/auth/login', { body: { username: user.username, password: PASSWORD } }),
            change.run(user, own),
          ]);
          assert.equal(changed.status, change.status, `round ${round}: ${changed.text}`);
          assert.ok(login.status === 200 || login.status === 401, `round ${round}: login ${login.status} ${login.text}`);
          if (login.status === 200) await assertDead(tokensOf(login, style), `round ${round}, login that won the race`);
          const keeps = what.includes('self-service') ? [claimsOf(own.access).sid] : [];
          assert.deepEqual(await liveSessions(user.id), keeps, `round ${round}: sessions left`);
          if (keeps.length === 0) await assertDead(own, `round ${round}, earlier session`);
          else
            assert.equal(
              (await server.request('GET', '/api/auth/verify', { token: own.access })).status,
              200,
              'the changing session stays',
            );
        }
      });
    }

    test(`a login racing the user's deletion is a 200 whose tokens die, or a plain 401, never a 500 (${ROUNDS} rounds)`, async () => {
      for (let round = 1; round <= ROUNDS; round++) {
        const user = await server.createUser(`gone-${round}`);
        const [login, deleted] = await Promise.all([
          server.request('POST', '/api/auth/login', { body: { username: user.username, password: PASSWORD } }),
          server.request('DELETE', `/api/admin/users/${user.id}`, { token: admin }),
        ]);
        assert.equal(deleted.status, 204, deleted.text);
        assert.ok(login.status === 200 || login.status === 401, `round ${round}: login ${login.status} ${login.text}`);
        if (login.status === 401)
          assert.equal(errorOf(login, style), style === 'flat' ? 'invalid username or password' : 'INVALID_CREDENTIALS');
        else await assertDead(tokensOf(login, style), `round ${round}`);
      }
    });

    test('the old password no longer logs in after a change, and refresh refuses a session of the old credentials', async () => {
      const user = await server.createUser('versioned');
      const before = tokensOf((await server.login('versioned')).result, style);
      await server.core.accounts.resetPassword(user.id, NEW_PASSWORD);
      await assertDead(before, 'before the reset');
      assert.equal((await server.request('POST', '/api/auth/login', { body: { username: 'versioned', password: PASSWORD } })).status, 401);
      const row = await server.core.store.db
        .selectFrom('users')
        .select('credential_version')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.credential_version, 1);
      await server.login('versioned', NEW_PASSWORD);
    });
  });

  describe(`the current password of POST /api/auth/password is limited and audited like login (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine, env: { LATCHKEY_LIMITS: 'on' } });
    });
    after(() => server.close());

    const change = (token: string, current: string, requestId?: string) =>
      server.request('POST', '/api/auth/password', {
        token,
        body: { current_password: current, new_password: NEW_PASSWORD },
        ...(requestId === undefined ? {} : { headers: { 'x-request-id': requestId } }),
      });

    test('five wrong current passwords are 403s, each audited; then even the right one is a 429, and so is a login', async () => {
      const user = await server.createUser('oracle');
      const { access } = tokensOf((await server.login('oracle')).result, style);
      for (let i = 1; i <= 5; i++) {
        const res = await change(access, `wrong guess ${i}`);
        assert.equal(res.status, 403, `guess ${i}`);
        assert.equal(errorOf(res, style), style === 'flat' ? 'current password is incorrect' : 'FORBIDDEN');
      }
      const blocked = await change(access, PASSWORD, `blocked-${style}`);
      assert.equal(blocked.status, 429, blocked.text);
      assert.match(blocked.headers.get('retry-after') ?? '', /^\d+$/);
      assert.equal(errorOf(blocked, style), style === 'flat' ? 'Too many requests. Please try again later.' : 'RATE_LIMITED');
      // One budget per account: the login of this account from this address is blocked too.
      const login = await server.request('POST', '/api/auth/login', { body: { username: 'oracle', password: PASSWORD } });
      assert.equal(login.status, 429);
      // The password did not change.
      const stored = await server.core.users.getById(user.id);
      assert.equal(await server.core.hasher.verify(stored.passwordHash ?? '', PASSWORD), true);
      const audit = await server.core.store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('user_id', '=', user.id)
        .where('type', '=', 'password_check_failed')
        .execute();
      assert.equal(audit.length, 5);
      assert.deepEqual(JSON.parse(audit[0]?.details ?? '{}'), { purpose: 'password_change' });
      assert.equal(audit[0]?.ip, '127.0.0.1');
    });
  });
}
