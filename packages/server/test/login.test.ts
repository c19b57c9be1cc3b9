import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { PASSWORD, type TestServer, claimsOf, errorOf, headerOf, matrix, startTestServer, tokensOf } from './support/server.ts';

for (const { style, engine, name } of matrix()) {
  describe(`login (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine });
      await server.createUser('ada', { email: 'Ada@Example.com' });
    });
    after(() => server.close());

    test('a correct username and password return the token body of the contract', async () => {
      const res = await server.request('POST', '/api/auth/login', { body: { username: 'ada', password: PASSWORD } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      if (style === 'flat') {
        assert.deepEqual(Object.keys(res.body), ['token', 'refresh_token', 'expires_at', 'token_type']);
        assert.equal(res.body.token_type, 'Bearer');
        assert.equal(res.body.expires_at, claimsOf(res.body.token).exp);
      } else {
        assert.deepEqual(Object.keys(res.body), ['data', 'error', 'meta']);
        assert.deepEqual(Object.keys(res.body.data), ['token', 'expiresAt', 'refreshToken', 'tokenType']);
        assert.equal(res.body.error, null);
        assert.equal(res.body.data.tokenType, 'Bearer');
        assert.match(res.body.data.expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.equal(Date.parse(res.body.data.expiresAt) / 1000, claimsOf(res.body.data.token).exp);
        assert.match(res.body.meta.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.equal(res.body.meta.requestId, res.headers.get('x-request-id'));
      }
    });

    test('the access token carries exactly the claims of SPEC §3', async () => {
      const { access, refresh } = await server.login('ada');
      const header = headerOf(access);
      assert.deepEqual(Object.keys(header).sort(), ['alg', 'kid', 'typ']);
      assert.equal(header.alg, 'HS256');
      assert.equal(header.typ, 'JWT');
      const claims = claimsOf(access);
      assert.deepEqual(Object.keys(claims).sort(), [
        'amr',
        'auth_time',
        'exp',
        'iat',
        'iss',
        'jti',
        'role',
        'sid',
        'sub',
        'token_type',
        'user_id',
        'username',
      ]);
      assert.deepEqual(claims.amr, ['pwd']);
      assert.ok(Number.isInteger(claims.auth_time) && claims.auth_time <= claims.iat);
      assert.equal(claims.user_id, (await server.core.users.findByUsername('ada'))?.id);
      assert.equal(claims.username, 'ada');
      assert.equal(claims.sub, 'ada');
      assert.equal(claims.role, 'STANDARD');
      assert.equal(claims.token_type, 'access');
      assert.equal(claims.iss, 'latchkey');
      assert.equal(claims.exp - claims.iat, 3600);
      const r = claimsOf(refresh);
      assert.equal(r.token_type, 'refresh');
      assert.equal(r.sid, claims.sid);
      assert.notEqual(r.jti, claims.jti);
      assert.equal(r.exp - r.iat, 7 * 24 * 3600);
    });

    test('the email logs in too, under either field name, case-insensitively', async () => {
      for (const body of [
        { email: 'ada@example.com', password: PASSWORD },
        { username: 'ADA@EXAMPLE.COM', password: PASSWORD },
        { email: 'ADA', password: PASSWORD },
      ]) {
        const res = await server.request('POST', '/api/auth/login', { body });
        assert.equal(res.status, 200, JSON.stringify(body));
      }
    });

    test('the refresh token is also set as an HttpOnly SameSite=Strict cookie on /api/auth', async () => {
      const res = await server.request('POST', '/api/auth/login', { body: { username: 'ada', password: PASSWORD } });
      const cookie = res.headers.get('set-cookie') ?? '';
      assert.match(cookie, /^latchkey_refresh=[\w.-]+;/);
      assert.equal(cookie.split(';')[0]?.split('=')[1], tokensOf(res, style).refresh);
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Strict/);
      assert.match(cookie, /Path=\/api\/auth/);
      // Plain http to 127.0.0.1 is local development: no Secure flag.
      assert.doesNotMatch(cookie, /Secure/);
      // fetch cannot set Host; node:http can. Host is the client's to write, so it decides nothing: the real
      // scheme and LATCHKEY_PUBLIC_URL do (trust-boundaries.test.ts).
      const cookieForHost = await new Promise<string>((resolve, reject) => {
        const req = httpRequest(
          server.url + '/api/auth/login',
          { method: 'POST', headers: { host: 'auth.example.com', 'content-type': 'application/json' } },
          (res) => {
            res.resume();
            resolve(String(res.headers['set-cookie']));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ username: 'ada', password: PASSWORD }));
      });
      assert.match(cookieForHost, /^latchkey_refresh=/);
      assert.doesNotMatch(cookieForHost, /; Secure/);
    });

    test('a wrong password, an unknown user and a disabled user all get the same 401', async () => {
      const disabled = await server.createUser('dora');
      await server.core.accounts.setDisabled(disabled.id, true);
      for (const body of [
        { username: 'ada', password: 'wrong-password' },
        { username: 'nobody', password: PASSWORD },
        { username: 'dora', password: PASSWORD },
      ]) {
        const res = await server.request('POST', '/api/auth/login', { body });
        assert.equal(res.status, 401);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer');
        if (style === 'flat') assert.deepEqual(res.body, { error: 'invalid username or password' });
        else {
          assert.deepEqual(res.body.error, { code: 'INVALID_CREDENTIALS', message: 'Invalid email or password' });
          assert.equal(res.body.data, null);
        }
      }
    });

    test('a failed login writes a login_failed audit record without the identifier or password', async () => {
      await server.request('POST', '/api/auth/login', {
        body: { username: 'audit-probe', password: 'secret-probe-pw' },
        headers: { 'x-request-id': 'probe-1' },
      });
      const rows = await server.core.store.db.selectFrom('audit_events').selectAll().where('request_id', '=', 'probe-1').execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.type, 'login_failed');
      assert.equal(rows[0]?.ip, '127.0.0.1');
      const text = JSON.stringify(rows);
      assert.doesNotMatch(text, /audit-probe/);
      assert.doesNotMatch(text, /secret-probe-pw/);
      assert.match(rows[0]?.details ?? '', /identifier_hash/);
    });

    test('missing fields, wrong types and bad JSON are a 400 in the style of the contract', async () => {
      const cases: { raw?: string; body?: unknown; field: string }[] = [
        { body: { username: 'ada' }, field: 'password' },
        { body: { password: PASSWORD }, field: 'username' },
        { body: { username: 'ada', password: 12345678 }, field: 'password' },
        { body: { username: ['ada'], password: PASSWORD }, field: 'username' },
        { body: { username: 'ab', password: PASSWORD }, field: 'username' },
        { body: { username: 'ada', password: '' }, field: 'password' },
        { body: { username: 'ada', password: 'x'.repeat(1025) }, field: 'password' },
        { body: [1, 2], field: 'body' },
        { body: 'ada', field: 'body' },
        { raw: '{"username": "ada", "password": ', field: 'body' },
        { raw: '', field: 'body' },
      ];
      for (const c of cases) {
        const res = await server.request('POST', '/api/auth/login', {
          ...(c.raw !== undefined ? { raw: c.raw, headers: { 'content-type': 'application/json' } } : { body: c.body }),
        });
        assert.equal(res.status, 400, JSON.stringify(c));
        if (style === 'flat') assert.deepEqual(res.body, { error: 'invalid request body' });
        else {
          assert.equal(res.body.error.code, 'VALIDATION_ERROR');
          assert.equal(res.body.error.message, 'Invalid input');
          assert.equal(res.body.error.details[0].field, c.field, JSON.stringify(c));
        }
      }
    });

    test('a body over 64 KiB is a 413', async () => {
      const res = await server.request('POST', '/api/auth/login', {
        body: { username: 'ada', password: PASSWORD, pad: 'x'.repeat(70_000) },
      });
      assert.equal(res.status, 413);
      assert.equal(errorOf(res, style), style === 'flat' ? 'invalid request body' : 'VALIDATION_ERROR');
    });

    test('a body sent without a JSON content type is still read as JSON (curl -d)', async () => {
      const res = await server.request('POST', '/api/auth/login', {
        raw: JSON.stringify({ username: 'ada', password: PASSWORD }),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.equal(res.status, 200);
    });

    test('a request id is kept when well-formed, replaced otherwise', async () => {
      const kept = await server.request('GET', '/healthz', { headers: { 'x-request-id': 'abc-123' } });
      assert.equal(kept.headers.get('x-request-id'), 'abc-123');
      const replaced = await server.request('GET', '/healthz', { headers: { 'x-request-id': 'bad id with spaces' } });
      assert.notEqual(replaced.headers.get('x-request-id'), 'bad id with spaces');
      assert.match(replaced.headers.get('x-request-id') ?? '', /^[A-Za-z0-9._-]{1,128}$/);
    });

    test('an old bcrypt hash logs in and is upgraded to argon2id', async () => {
      const bcrypt = await import('@node-rs/bcrypt');
      const legacy = (await bcrypt.hash(PASSWORD, { cost: 10 })).replace(/^\$2b\$/, '$2a$');
      const user = await server.core.accounts.create({ username: 'legacy', passwordHash: legacy });
      const res = await server.request('POST', '/api/auth/login', { body: { username: 'legacy', password: PASSWORD } });
      assert.equal(res.status, 200);
      const after = await server.core.users.findById(user.id);
      // This server's argon2id cost (passwords.test.ts checks that it is SPEC's by default).
      assert.match(after?.passwordHash ?? '', /^\$argon2id\$v=19\$/);
      assert.equal(server.core.hasher.needsRehash(after?.passwordHash ?? ''), false);
      const again = await server.request('POST', '/api/auth/login', { body: { username: 'legacy', password: PASSWORD } });
      assert.equal(again.status, 200);
    });

    test('login records last_login_at and a session', async () => {
      const before = Date.now();
      const { access } = await server.login('ada');
      const user = await server.core.users.findByUsername('ada');
      assert.ok((user?.lastLoginAt ?? 0) >= before);
      const session = await server.core.store.db
        .selectFrom('sessions')
        .selectAll()
        .where('id', '=', claimsOf(access).sid)
        .executeTakeFirst();
      assert.equal(session?.user_id, user?.id);
      assert.equal(session?.revoked_at, null);
      assert.ok(Buffer.from(claimsOf(access).sid, 'base64url').length >= 16);
    });
  });
}
