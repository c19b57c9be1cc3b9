import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PASSWORD, type HttpResult, type Style, type TestServer, errorOf, matrix, startTestServer, tokensOf } from './support/server.ts';

const ROOT_PASSWORD = 'root-password-for-tests';
const DAY_MS = 86_400_000;

function itemsOf(res: HttpResult, style: Style): any[] {
  return style === 'flat' ? res.body.items : res.body.data;
}

function totalOf(res: HttpResult, style: Style): number {
  return style === 'flat' ? res.body.total : res.body.meta.total;
}

for (const { style, engine, name } of matrix()) {
  describe(`admin audit log API (${name})`, () => {
    let server: TestServer;
    let root: string;
    let rootId: number;

    const audit = (query = '', token = root) => server.request('GET', `/api/admin/audit${query}`, { token });

    before(async () => {
      server = await startTestServer({
        style,
        engine,
        env: {
          // Limits on, so that a rate-limited login is audited; only the pair limit is low enough to hit.
          LATCHKEY_LIMITS: 'on',
          LATCHKEY_LIMIT_LOGIN_PAIR: '2/15m',
          LATCHKEY_LIMIT_LOGIN_PER_ADDRESS: '1000/1m',
          LATCHKEY_AUDIT_RETENTION: '30d',
        },
      });
      root = (await server.login('root', ROOT_PASSWORD)).access;
      rootId = (await server.core.users.getByUsername('root')).id;
    });
    after(() => server.close());

    test('without a token it is a 401, for a STANDARD user a 403', async () => {
      const anonymous = await server.request('GET', '/api/admin/audit?since=bad');
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
      assert.equal(errorOf(anonymous, style), style === 'flat' ? 'missing authorization header' : 'UNAUTHORIZED');
      await server.createUser('reader');
      const { access } = await server.login('reader');
      const forbidden = await audit('', access);
      assert.equal(forbidden.status, 403);
      assert.equal(errorOf(forbidden, style), style === 'flat' ? 'forbidden' : 'FORBIDDEN');
    });

    test('every event of the issue is written where it happens, with who, whom, where and the request id, never a secret', async () => {
      const agent = { 'user-agent': 'audit-test/1.0', 'x-request-id': 'audit-req-1' };
      const ada = await server.createUser('ada', { email: 'ada@example.com' });
      const bob = await server.createUser('bob');
      const login = (username: string, password = PASSWORD) =>
        server.request('POST', '/api/auth/login', { body: { username, password }, headers: agent });

      const first = tokensOf(await login('ada'), style); // login_success
      assert.equal((await login('ada', 'wrong password!')).status, 401); // login_failed
      for (let i = 0; i < 2; i++) await login('nobody-at-all', 'wrong password!');
      assert.equal((await login('nobody-at-all', 'wrong password!')).status, 429); // rate_limited
      // A refresh token spent a minute ago and presented again: theft, the session is revoked.
      const second = tokensOf(await login('ada'), style);
      await server.core.sessions.rotate(second.refresh, {}, Date.now() - 60_000);
      assert.equal(
        (await server.request('POST', '/api/auth/refresh', { body: { refresh_token: second.refresh }, headers: agent })).status,
        401,
      ); // refresh_token_reuse
      assert.equal((await server.request('POST', '/api/auth/logout', { token: first.access, headers: agent })).status, 204); // logout
      const third = tokensOf(await login('ada'), style);
      const sessions = await server.request('GET', '/api/auth/sessions', { token: third.access });
      const fourth = tokensOf(await login('ada'), style);
      const other = (style === 'flat' ? sessions.body.items : sessions.body.data)[0].id;
      assert.equal((await server.request('DELETE', `/api/auth/sessions/${other}`, { token: fourth.access, headers: agent })).status, 204); // session_revoked
      const changed = await server.request('POST', '/api/auth/password', {
        token: fourth.access,
        body:
          style === 'flat'
            ? { current_password: PASSWORD, new_password: 'a different passphrase' }
            : { currentPassword: PASSWORD, newPassword: 'a different passphrase' },
        headers: agent,
      });
      assert.equal(changed.status, 204); // password_changed
      assert.equal((await server.request('POST', '/api/auth/logout-all', { token: fourth.access, headers: agent })).status, 204); // logout_all
      const admin = (method: string, path: string, body?: unknown) =>
        server.request(method, path, { token: root, headers: agent, ...(body === undefined ? {} : { body }) });
      assert.equal((await admin('POST', '/api/admin/users', { username: 'carol', password: 'a long and unusual passphrase' })).status, 201); // user_created
      assert.equal((await admin('PATCH', `/api/admin/users/${bob.id}`, { email: 'bob@example.com' })).status, 200); // user_updated
      assert.equal((await admin('PATCH', `/api/admin/users/${bob.id}`, { role: 'ADMIN' })).status, 200); // role_changed
      assert.equal((await admin('PATCH', `/api/admin/users/${bob.id}`, { disabled: true })).status, 200); // user_disabled
      assert.equal((await admin('DELETE', `/api/admin/users/${bob.id}`)).status, 204); // user_deleted
      // key_rotated is written by `latchkey keys rotate` (keys.test.ts).

      const all = await audit('?page_size=200');
      assert.equal(all.status, 200);
      const events = itemsOf(all, style);
      const types = new Set(events.map((e) => e.type));
      for (const type of [
        'login_success',
        'login_failed',
        'rate_limited',
        'refresh_token_reuse',
        'logout',
        'logout_all',
        'session_revoked',
        'password_changed',
        'user_created',
        'user_updated',
        'role_changed',
        'user_disabled',
        'user_deleted',
      ]) {
        assert.ok(types.has(type), `${type} missing from ${[...types].join(', ')}`);
      }
      const key = (snake: string) => (style === 'flat' ? snake : snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));
      const success = events.find((e) => e.type === 'login_success' && e[key('user_id')] === ada.id);
      assert.equal(success[key('actor_user_id')], ada.id);
      assert.equal(success.ip, '127.0.0.1');
      assert.equal(success[key('user_agent')], 'audit-test/1.0');
      assert.equal(success[key('request_id')], 'audit-req-1');
      assert.equal(typeof success[key('session_id')], 'string');
      const roleChange = events.find((e) => e.type === 'role_changed');
      assert.equal(roleChange[key('user_id')], bob.id);
      assert.equal(roleChange[key('actor_user_id')], rootId);
      assert.deepEqual(roleChange.details, { from: 'STANDARD', to: 'ADMIN' });
      const failed = events.find((e) => e.type === 'login_failed');
      assert.match(failed.details[key('identifier_hash')], /^[0-9a-f]+$/);

      // Nothing secret anywhere: no password, no hash, no token, not the identifier in clear.
      const text = all.text;
      for (const secret of [
        PASSWORD,
        'wrong password!',
        'a different passphrase',
        'a long and unusual passphrase',
        first.access,
        first.refresh,
        second.refresh,
        '$argon2',
        'nobody-at-all',
      ]) {
        assert.ok(!text.includes(secret), `the audit log shows ${secret.slice(0, 12)}…`);
      }
    });

    test('events show newest first with the keys of the style', async () => {
      const res = await audit('?page_size=2');
      const [newest, older] = itemsOf(res, style);
      assert.ok(newest.id > older.id);
      if (style === 'flat') {
        assert.deepEqual(Object.keys(newest), [
          'id',
          'at',
          'type',
          'user_id',
          'actor_user_id',
          'session_id',
          'ip',
          'user_agent',
          'request_id',
          'details',
        ]);
        assert.equal(typeof newest.at, 'number');
        assert.deepEqual(Object.keys(res.body), ['items', 'total', 'page', 'page_size']);
      } else {
        assert.deepEqual(Object.keys(newest), [
          'id',
          'at',
          'type',
          'userId',
          'actorUserId',
          'sessionId',
          'ip',
          'userAgent',
          'requestId',
          'details',
        ]);
        assert.match(newest.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.deepEqual(Object.keys(res.body.meta), ['total', 'page', 'pageSize', 'timestamp', 'requestId']);
      }
      assert.equal(res.headers.get('cache-control'), 'no-store');
    });

    test('filters by user, type and time range, and pages through the result', async () => {
      const user = await server.createUser('timed');
      const now = Date.now();
      // Three events of one user: two days ago, one day ago, and now.
      for (const at of [now - 2 * DAY_MS, now - DAY_MS, now]) await server.core.audit.write('user_updated', { userId: user.id }, {}, at);
      const ofUser = await audit(`?user_id=${user.id}&type=user_updated`);
      assert.equal(totalOf(ofUser, style), 3);
      assert.ok(itemsOf(ofUser, style).every((e) => e.type === 'user_updated'));
      const seconds = (ms: number) => Math.floor(ms / 1000);
      // since is inclusive, until exclusive; Unix seconds and ISO-8601 both work.
      const recent = await audit(`?user_id=${user.id}&type=user_updated&since=${seconds(now - DAY_MS - 1000)}`);
      assert.equal(totalOf(recent, style), 2);
      const iso = (ms: number) => new Date(ms).toISOString();
      const older = await audit(`?user_id=${user.id}&type=user_updated&until=${encodeURIComponent(iso(now - DAY_MS + 1))}`);
      assert.equal(totalOf(older, style), 2);
      const window = await audit(`?user_id=${user.id}&type=user_updated&since=${iso(now - DAY_MS - 1)}&until=${iso(now - 1)}`);
      assert.equal(totalOf(window, style), 1);
      const date = new Date(now - 3 * DAY_MS).toISOString().slice(0, 10);
      assert.equal(totalOf(await audit(`?user_id=${user.id}&type=user_updated&since=${date}`), style), 3);
      const page2 = await audit(`?user_id=${user.id}&type=user_updated&page=2&page_size=2`);
      assert.equal(itemsOf(page2, style).length, 1);
      assert.equal(totalOf(page2, style), 3);
      assert.equal(style === 'flat' ? page2.body.page : page2.body.meta.page, 2);
      assert.equal(totalOf(await audit('?type=no_such_event'), style), 0);
      // An id no user can have is an empty page, not a database error.
      assert.equal(totalOf(await audit('?user_id=99999999999'), style), 0);
    });

    test('bad filters are a 400 naming the parameter, never a 500', async () => {
      const cases: [string, string, string][] = [
        ['user_id=abc', 'user_id must be a user id (a whole number from 1)', 'userId'],
        ['user_id=0', 'user_id must be a user id (a whole number from 1)', 'userId'],
        ['type=Login!', 'type must be an event type such as login_failed', 'type'],
        ['since=yesterday', 'since must be Unix seconds or an ISO-8601 date-time such as 2026-01-13T10:00:00Z', 'since'],
        ['until=2026-01-13T10:00:00', 'until must be Unix seconds or an ISO-8601 date-time such as 2026-01-13T10:00:00Z', 'until'],
        ['since=2026-13-45T00:00:00Z', 'since must be Unix seconds or an ISO-8601 date-time such as 2026-01-13T10:00:00Z', 'since'],
        ['since=1768300000&until=1768200000', 'until must not be before since', 'until'],
        ['page_size=0', 'page_size must be a whole number from 1 to 200', 'pageSize'],
        ['page=1&page=2', 'page must be a whole number from 1 to 999999', 'page'],
      ];
      for (const [query, flat, field] of cases) {
        const res = await audit(`?${query}`);
        assert.equal(res.status, 400, query);
        if (style === 'flat') assert.deepEqual(res.body, { error: flat });
        else {
          assert.equal(res.body.error.code, 'VALIDATION_ERROR');
          assert.equal(res.body.error.details[0].field, field);
        }
      }
    });

    test('events older than LATCHKEY_AUDIT_RETENTION are pruned; younger ones stay', async () => {
      const user = await server.createUser('retained');
      const now = Date.now();
      await server.core.audit.write('user_updated', { userId: user.id }, {}, now - 31 * DAY_MS);
      await server.core.audit.write('user_updated', { userId: user.id }, {}, now - 29 * DAY_MS);
      assert.equal(server.core.config.auditRetentionMs, 30 * DAY_MS);
      assert.ok((await server.core.audit.prune(server.core.config.auditRetentionMs)) >= 1);
      const left = itemsOf(await audit(`?user_id=${user.id}&type=user_updated`), style);
      assert.equal(left.length, 1);
      // 0 keeps everything.
      assert.equal(await server.core.audit.prune(0), 0);
    });
  });
}
