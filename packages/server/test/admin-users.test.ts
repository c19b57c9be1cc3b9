import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PASSWORD, type HttpResult, type Style, type TestServer, errorOf, matrix, startTestServer } from './support/server.ts';

const ROOT_PASSWORD = 'root-password-for-tests';

/** The body's data in either style: the flat body itself, or the envelope's `data`. */
function dataOf(res: HttpResult, style: Style): any {
  return style === 'flat' ? res.body : res.body.data;
}

/** A 400 in the contract's shape: the flat sentence, or VALIDATION_ERROR with the field at fault. */
function assertRefused(res: HttpResult, style: Style, flat: string, field: string): void {
  assert.equal(res.status, 400, res.text);
  if (style === 'flat') assert.deepEqual(res.body, { error: flat });
  else {
    assert.equal(res.body.error.code, 'VALIDATION_ERROR');
    assert.equal(res.body.data, null);
    assert.equal(res.body.error.details[0].field, field);
  }
}

for (const { style, engine, name } of matrix()) {
  describe(`admin users API (${name})`, () => {
    let server: TestServer;
    let root: string;
    let rootId: number;
    let standard: string;

    const as = (token: string) => ({
      get: (path: string) => server.request('GET', path, { token }),
      post: (path: string, body?: unknown) => server.request('POST', path, { token, ...(body === undefined ? {} : { body }) }),
      patch: (path: string, body: unknown) => server.request('PATCH', path, { token, body }),
      delete: (path: string) => server.request('DELETE', path, { token }),
    });

    before(async () => {
      server = await startTestServer({ style, engine });
      root = (await server.login('root', ROOT_PASSWORD)).access;
      rootId = (await server.core.users.getByUsername('root')).id;
      await server.createUser('ada', { email: 'ada@example.com' });
      standard = (await server.login('ada')).access;
    });
    after(() => server.close());

    const ENDPOINTS: [string, string][] = [
      ['GET', '/api/admin/users'],
      ['POST', '/api/admin/users'],
      ['GET', '/api/admin/users/1'],
      ['PATCH', '/api/admin/users/1'],
      ['DELETE', '/api/admin/users/1'],
      ['POST', '/api/admin/users/1/password'],
      ['GET', '/api/admin/users/1/sessions'],
      ['DELETE', '/api/admin/users/1/sessions'],
    ];

    test('every admin endpoint is a 401 with WWW-Authenticate without a token, or with a bad one', async () => {
      for (const [method, path] of ENDPOINTS) {
        const missing = await server.request(method, path, method === 'GET' ? {} : { body: { role: 'ADMIN' } });
        assert.equal(missing.status, 401, `${method} ${path}`);
        assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
        assert.equal(errorOf(missing, style), style === 'flat' ? 'missing authorization header' : 'UNAUTHORIZED');
        const bad = await server.request(method, path, { token: 'not.a.token' });
        assert.equal(bad.status, 401);
        assert.equal(errorOf(bad, style), style === 'flat' ? 'invalid or expired token' : 'UNAUTHORIZED');
        const malformed = await server.request(method, path, { headers: { authorization: 'Basic cm9vdDpyb290' } });
        assert.equal(errorOf(malformed, style), style === 'flat' ? 'invalid authorization header format' : 'UNAUTHORIZED');
      }
    });

    test('an anonymous caller gets the 401 before any validation of the query', async () => {
      const res = await server.request('GET', '/api/admin/users?page=zero');
      assert.equal(res.status, 401);
    });

    test('a STANDARD user gets 403 forbidden on every admin endpoint', async () => {
      for (const [method, path] of ENDPOINTS) {
        const res = await server.request(method, path, { token: standard, ...(method === 'GET' ? {} : { body: {} }) });
        assert.equal(res.status, 403, `${method} ${path}`);
        if (style === 'flat') assert.deepEqual(res.body, { error: 'forbidden' });
        else assert.deepEqual(res.body.error, { code: 'FORBIDDEN', message: 'Forbidden' });
        assert.equal(res.headers.get('cache-control'), 'no-store');
      }
    });

    test('the list shows users like /me plus disabled, with the paging of the contract', async () => {
      const res = await as(root).get('/api/admin/users');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
      const items = style === 'flat' ? res.body.items : res.body.data;
      const ada = items.find((u: any) => u.username === 'ada');
      if (style === 'flat') {
        assert.deepEqual(Object.keys(res.body), ['items', 'total', 'page', 'page_size']);
        assert.equal(res.body.page, 1);
        assert.equal(res.body.page_size, 50);
        assert.equal(res.body.total, items.length);
        assert.deepEqual(Object.keys(ada), [
          'id',
          'username',
          'email',
          'role',
          'created_at',
          'last_login_at',
          'email_verified',
          'disabled',
        ]);
        assert.equal(typeof ada.created_at, 'number');
      } else {
        assert.deepEqual(Object.keys(res.body), ['data', 'error', 'meta']);
        assert.equal(res.body.meta.page, 1);
        assert.equal(res.body.meta.pageSize, 50);
        assert.equal(res.body.meta.total, items.length);
        assert.deepEqual(Object.keys(ada), ['id', 'username', 'email', 'role', 'createdAt', 'lastLoginAt', 'emailVerified', 'disabled']);
        assert.match(ada.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      }
      assert.equal(ada.email, 'ada@example.com');
      assert.equal(ada.role, 'STANDARD');
      assert.equal(ada.disabled, false);
    });

    test('q searches usernames and emails case-insensitively; page and page_size page through', async () => {
      for (const n of [1, 2, 3]) await server.createUser(`pager${n}`, { email: `pager${n}@paging.test` });
      await server.createUser('100%_literal');
      const search = await as(root).get('/api/admin/users?q=PAGING.TEST');
      const names = (r: HttpResult) => (style === 'flat' ? r.body.items : r.body.data).map((u: any) => u.username);
      assert.deepEqual(names(search), ['pager1', 'pager2', 'pager3']);
      // % and _ are literal characters in a search, not wildcards.
      assert.deepEqual(names(await as(root).get('/api/admin/users?q=0%25_')), ['100%_literal']);
      const second = await as(root).get('/api/admin/users?q=pager&page=2&page_size=2');
      assert.deepEqual(names(second), ['pager3']);
      if (style === 'flat') assert.deepEqual([second.body.total, second.body.page, second.body.page_size], [3, 2, 2]);
      else assert.deepEqual([second.body.meta.total, second.body.meta.page, second.body.meta.pageSize], [3, 2, 2]);
      const beyond = await as(root).get('/api/admin/users?q=pager&page=9');
      assert.deepEqual(names(beyond), []);
      assert.equal(style === 'flat' ? beyond.body.total : beyond.body.meta.total, 3);
    });

    test('bad query values are a 400 naming the parameter, never a 500', async () => {
      const cases: [string, string, string][] = [
        ['page=0', 'page must be a whole number from 1 to 999999', 'page'],
        ['page=abc', 'page must be a whole number from 1 to 999999', 'page'],
        ['page=1&page=2', 'page must be a whole number from 1 to 999999', 'page'],
        ['page_size=201', 'page_size must be a whole number from 1 to 200', 'pageSize'],
        ['page_size=-1', 'page_size must be a whole number from 1 to 200', 'pageSize'],
        [`q=${'a'.repeat(255)}`, 'q must be at most 254 characters', 'q'],
        ['q=%00', 'q must be at most 254 characters', 'q'],
      ];
      for (const [query, flat, field] of cases) assertRefused(await as(root).get(`/api/admin/users?${query}`), style, flat, field);
    });

    test('create answers 201 with the user and a Location, audited with the admin as actor; the user can log in', async () => {
      const res = await as(root).post('/api/admin/users', {
        username: 'grace',
        email: 'grace@example.com',
        role: 'STANDARD',
        password: 'a long and unusual passphrase',
      });
      assert.equal(res.status, 201);
      const user = dataOf(res, style);
      assert.equal(res.headers.get('location'), `/api/admin/users/${user.id}`);
      assert.equal(user.username, 'grace');
      assert.equal(user.email, 'grace@example.com');
      assert.equal(user.role, 'STANDARD');
      assert.equal(user.disabled, false);
      assert.equal(style === 'flat' ? user.last_login_at : user.lastLoginAt, null);
      const row = await server.core.users.getById(user.id);
      assert.match(row.passwordHash ?? '', /^\$argon2id\$/);
      const audit = await server.core.audit.list({ userId: user.id, type: 'user_created' });
      assert.equal(audit.items.length, 1);
      assert.equal(audit.items[0]?.actor_user_id, rootId);
      await server.login('grace', 'a long and unusual passphrase');
      // Without a password and role: a STANDARD account that only Google sign-in (or a reset) opens.
      const bare = await as(root).post('/api/admin/users', { username: 'nopass' });
      assert.equal(bare.status, 201);
      assert.equal(dataOf(bare, style).role, 'STANDARD');
      assert.equal((await server.core.users.getByUsername('nopass')).passwordHash, null);
    });

    test('create refuses bad bodies and values with 400 and taken names with 409', async () => {
      const post = (body: unknown) => as(root).post('/api/admin/users', body);
      assertRefused(await post({ email: 'x@example.com' }), style, 'invalid request body', 'username');
      assertRefused(await post({ username: 'helen', admin: true }), style, 'invalid request body', 'body');
      assertRefused(await post({ username: 42 }), style, 'invalid request body', 'username');
      assertRefused(await post({ username: 'hi' }), style, 'username must be 3 to 50 characters long', 'username');
      assertRefused(await post({ username: 'helen', email: 'not-an-email' }), style, 'email must be an email address', 'email');
      assertRefused(await post({ username: 'helen', role: 'ROOT' }), style, 'role must be ADMIN or STANDARD', 'role');
      assertRefused(
        await post({ username: 'helen', password: 'password' }),
        style,
        'password is one of the 10,000 most common passwords',
        'password',
      );
      assertRefused(await post({ username: 'helen', password: 'short' }), style, 'password must be 8 to 128 characters long', 'password');
      const bad = await server.request('POST', '/api/admin/users', {
        token: root,
        raw: '{"username":',
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(bad.status, 400);
      for (const body of [{ username: 'ADA' }, { username: 'helen', email: 'ADA@example.com' }]) {
        const taken = await post(body);
        assert.equal(taken.status, 409, JSON.stringify(body));
        if (style === 'flat') assert.match(taken.body.error, /is taken$/);
        else assert.equal(taken.body.error.code, 'CONFLICT');
      }
      assert.equal(await server.core.users.findByUsername('helen'), undefined);
    });

    test('get shows one user; an unknown, malformed or huge id is a 404', async () => {
      const ada = await server.core.users.getByUsername('ada');
      const res = await as(root).get(`/api/admin/users/${ada.id}`);
      assert.equal(res.status, 200);
      assert.equal(dataOf(res, style).username, 'ada');
      for (const id of ['999999', 'abc', '0', '-1', '1.5', '99999999999', '2147483648']) {
        const missing = await as(root).get(`/api/admin/users/${id}`);
        assert.equal(missing.status, 404, id);
        if (style === 'flat') assert.deepEqual(missing.body, { error: 'no such user' });
        else assert.deepEqual(missing.body.error, { code: 'NOT_FOUND', message: 'No such user' });
      }
    });

    test('PATCH changes role, email and username, each audited', async () => {
      const user = await server.createUser('patchy', { email: 'patchy@example.com' });
      const res = await as(root).patch(`/api/admin/users/${user.id}`, { role: 'ADMIN', email: null, username: 'patched' });
      assert.equal(res.status, 200);
      const view = dataOf(res, style);
      assert.deepEqual([view.role, view.email, view.username], ['ADMIN', null, 'patched']);
      const row = await server.core.users.getById(user.id);
      assert.deepEqual([row.role, row.email, row.username], ['ADMIN', null, 'patched']);
      const types = (await server.core.audit.list({ userId: user.id })).items.map((e) => e.type);
      assert.ok(types.includes('role_changed') && types.includes('user_updated'), types.join());
      const roleChange = (await server.core.audit.list({ userId: user.id, type: 'role_changed' })).items[0];
      assert.deepEqual(JSON.parse(roleChange?.details ?? '{}'), { from: 'STANDARD', to: 'ADMIN' });
      assert.equal(roleChange?.actor_user_id, rootId);
      // The new role is in the next refreshed token.
      const { refresh } = await server.login('patched');
      const refreshed = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: refresh } });
      assert.equal(refreshed.status, 200);
    });

    test('PATCH refuses bad bodies (400), unknown users (404) and taken names (409)', async () => {
      const user = await server.createUser('patch2');
      const path = `/api/admin/users/${user.id}`;
      assertRefused(await as(root).patch(path, {}), style, 'invalid request body', 'body');
      assertRefused(await as(root).patch(path, { roles: 'ADMIN' }), style, 'invalid request body', 'body');
      assertRefused(await as(root).patch(path, { disabled: 'yes' }), style, 'invalid request body', 'disabled');
      assertRefused(await as(root).patch(path, { role: 'admin' }), style, 'role must be ADMIN or STANDARD', 'role');
      assertRefused(await as(root).patch(path, { email: '' }), style, 'email must be an email address', 'email');
      assertRefused(
        await as(root).patch(path, { username: ' padded ' }),
        style,
        'username must not contain control characters or surrounding spaces',
        'username',
      );
      assert.equal((await as(root).patch('/api/admin/users/999999', { role: 'ADMIN' })).status, 404);
      assert.equal((await as(root).patch(path, { username: 'Ada' })).status, 409);
      assert.equal((await as(root).patch(path, { email: 'ada@EXAMPLE.com' })).status, 409);
    });

    test('disabling a user revokes their sessions at once; enabling lets them log in again', async () => {
      const user = await server.createUser('dora');
      const { access, refresh } = await server.login('dora');
      const res = await as(root).patch(`/api/admin/users/${user.id}`, { disabled: true });
      assert.equal(res.status, 200);
      assert.equal(dataOf(res, style).disabled, true);
      assert.equal((await server.request('GET', '/api/auth/me', { token: access })).status, 401);
      assert.equal((await server.request('POST', '/api/auth/refresh', { body: { refresh_token: refresh } })).status, 401);
      assert.equal((await server.request('POST', '/api/auth/login', { body: { username: 'dora', password: PASSWORD } })).status, 401);
      assert.equal((await server.core.audit.list({ userId: user.id, type: 'user_disabled' })).total, 1);
      assert.equal((await as(root).patch(`/api/admin/users/${user.id}`, { disabled: false })).status, 200);
      await server.login('dora');
    });

    test('the last active ADMIN cannot be demoted, disabled or deleted (409); with a second ADMIN it can', async () => {
      // Make root the only active ADMIN: demote the one promoted earlier in this suite.
      for (const u of (await server.core.users.list({ pageSize: 200 })).items) {
        if (u.role === 'ADMIN' && u.id !== rootId) await server.core.accounts.update(u.id, { role: 'STANDARD' });
      }
      const path = `/api/admin/users/${rootId}`;
      for (const res of [
        await as(root).patch(path, { role: 'STANDARD' }),
        await as(root).patch(path, { disabled: true }),
        await as(root).delete(path),
      ]) {
        assert.equal(res.status, 409);
        if (style === 'flat') assert.deepEqual(res.body, { error: 'the last active ADMIN cannot be demoted, disabled or deleted' });
        else
          assert.deepEqual(res.body.error, { code: 'CONFLICT', message: 'The last active ADMIN cannot be demoted, disabled or deleted' });
      }
      assert.equal((await server.core.users.getById(rootId)).role, 'ADMIN');
      // A disabled ADMIN does not count: promoting a disabled user changes nothing.
      const sleeper = await server.createUser('sleeper', { role: 'ADMIN' });
      await server.core.accounts.update(sleeper.id, { disabled: true });
      assert.equal((await as(root).patch(path, { role: 'STANDARD' })).status, 409);
      await server.core.accounts.update(sleeper.id, { disabled: false });
      const { access: sleeperToken } = await server.login('sleeper');
      // A demotion takes effect on the next admin request, not at the token's expiry.
      const demoted = await as(sleeperToken).patch(path, { role: 'STANDARD' });
      assert.equal(demoted.status, 200);
      assert.equal((await as(root).get('/api/admin/users')).status, 403);
      assert.equal((await as(sleeperToken).patch(path, { role: 'ADMIN' })).status, 200);
      assert.equal((await as(root).get('/api/admin/users')).status, 200);
    });

    test('setting a password answers 204 and revokes every session of the user', async () => {
      const user = await server.createUser('paula');
      const first = await server.login('paula');
      const second = await server.login('paula');
      const res = await as(root).post(`/api/admin/users/${user.id}/password`, { password: 'a brand new passphrase' });
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      for (const session of [first, second]) {
        assert.equal((await server.request('GET', '/api/auth/me', { token: session.access })).status, 401);
        assert.equal((await server.request('POST', '/api/auth/refresh', { body: { refresh_token: session.refresh } })).status, 401);
      }
      assert.equal((await server.request('POST', '/api/auth/login', { body: { username: 'paula', password: PASSWORD } })).status, 401);
      await server.login('paula', 'a brand new passphrase');
      const audit = (await server.core.audit.list({ userId: user.id, type: 'password_changed' })).items[0];
      assert.equal(audit?.actor_user_id, rootId);
      assert.doesNotMatch(audit?.details ?? '', /passphrase/);
    });

    test('setting a password refuses weak or missing ones (400) and unknown users (404)', async () => {
      const user = await server.createUser('paula2');
      const path = `/api/admin/users/${user.id}/password`;
      assertRefused(await as(root).post(path, {}), style, 'invalid request body', 'password');
      assertRefused(await as(root).post(path, { password: 12345678 }), style, 'invalid request body', 'password');
      assertRefused(
        await as(root).post(path, { password: 'password1' }),
        style,
        'password is one of the 10,000 most common passwords',
        'password',
      );
      assertRefused(
        await as(root).post(path, { password: 'x'.repeat(129) }),
        style,
        'password must be 8 to 128 characters long',
        'password',
      );
      assert.equal((await as(root).post('/api/admin/users/999999/password', { password: 'a brand new passphrase' })).status, 404);
      await server.login('paula2');
    });

    test("a user's sessions are listed and all revoked by an admin", async () => {
      const user = await server.createUser('sam');
      const one = await server.login('sam');
      await server.login('sam');
      const list = await as(root).get(`/api/admin/users/${user.id}/sessions`);
      assert.equal(list.status, 200);
      const items = style === 'flat' ? list.body.items : list.body.data;
      assert.equal(items.length, 2);
      const keys =
        style === 'flat'
          ? ['id', 'created_at', 'last_used_at', 'expires_at', 'ip', 'user_agent']
          : ['id', 'createdAt', 'lastUsedAt', 'expiresAt', 'ip', 'userAgent'];
      assert.deepEqual(Object.keys(items[0]), keys);
      assert.equal(items[0].ip, '127.0.0.1');
      const revoked = await as(root).delete(`/api/admin/users/${user.id}/sessions`);
      assert.equal(revoked.status, 204);
      assert.equal((await server.request('GET', '/api/auth/me', { token: one.access })).status, 401);
      assert.equal((await server.request('POST', '/api/auth/refresh', { body: { refresh_token: one.refresh } })).status, 401);
      const after = await as(root).get(`/api/admin/users/${user.id}/sessions`);
      assert.deepEqual(style === 'flat' ? after.body.items : after.body.data, []);
      const audit = (await server.core.audit.list({ userId: user.id, type: 'session_revoked' })).items[0];
      assert.deepEqual(JSON.parse(audit?.details ?? '{}'), { sessions: 2, by_admin: true });
      assert.equal((await as(root).get('/api/admin/users/999999/sessions')).status, 404);
      assert.equal((await as(root).delete('/api/admin/users/999999/sessions')).status, 404);
    });

    test('delete answers 204, revokes the sessions and removes the user; a second delete is a 404', async () => {
      const user = await server.createUser('gone');
      const { access } = await server.login('gone');
      const res = await as(root).delete(`/api/admin/users/${user.id}`);
      assert.equal(res.status, 204);
      assert.equal(await server.core.users.findById(user.id), undefined);
      assert.equal((await server.request('GET', '/api/auth/me', { token: access })).status, 401);
      assert.equal((await as(root).get(`/api/admin/users/${user.id}`)).status, 404);
      assert.equal((await as(root).delete(`/api/admin/users/${user.id}`)).status, 404);
      const audit = (await server.core.audit.list({ userId: user.id, type: 'user_deleted' })).items[0];
      assert.equal(audit?.actor_user_id, rootId);
    });

    test('the admin endpoints are in the OpenAPI document, with examples in this style', async () => {
      const doc = (await server.request('GET', '/openapi.json')).body;
      const list = doc.paths['/api/admin/users'].get;
      assert.deepEqual(list.security, [{ bearer: [] }]);
      assert.ok(list.parameters.some((p: any) => p.name === 'page_size' && p.in === 'query'));
      const example = JSON.stringify(list.responses['200']);
      assert.match(example, style === 'flat' ? /"page_size":50/ : /"pageSize":50/);
      for (const path of ['/api/admin/users/{id}', '/api/admin/users/{id}/password', '/api/admin/users/{id}/sessions'])
        assert.ok(doc.paths[path], path);
      assert.ok(doc.paths['/api/admin/users'].post.requestBody);
    });
  });
}
