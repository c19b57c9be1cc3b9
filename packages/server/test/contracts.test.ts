/**
 * The examples of the two contract pages (shared/contracts/), reproduced field by field against a
 * deployment configured as each original was.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type TestServer, claimsOf, engines, startTestServer } from './support/server.ts';

const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

for (const engine of engines()) {
  describe(`the Vega AI login page (flat, ${engine})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style: 'flat', engine, env: { LATCHKEY_ISSUER: 'Vega AI' } });
      await server.createUser('john.doe@example.com', { password: 'securePassword123' });
    });
    after(() => server.close());

    test('POST /api/auth/login with the example request returns the example response shape', async () => {
      const res = await server.request('POST', '/api/auth/login', {
        body: { username: 'john.doe@example.com', password: 'securePassword123' },
      });
      assert.equal(res.status, 200);
      assert.equal(typeof res.body.token, 'string');
      assert.equal(typeof res.body.refresh_token, 'string');
      assert.ok(Number.isInteger(res.body.expires_at));
      // The header of the example token: {"alg":"HS256","typ":"JWT"} (plus our kid).
      const header = JSON.parse(Buffer.from(res.body.token.split('.')[0], 'base64url').toString());
      assert.equal(header.alg, 'HS256');
      assert.equal(header.typ, 'JWT');
      // The claims of the example, with the same names, types and values.
      const claims = claimsOf(res.body.token);
      assert.equal(claims.user_id, (await server.core.users.findByUsername('john.doe@example.com'))?.id);
      assert.equal(claims.username, 'john.doe@example.com');
      assert.equal(claims.role, 'STANDARD');
      assert.equal(claims.token_type, 'access');
      assert.equal(claims.iss, 'Vega AI');
      assert.equal(claims.sub, 'john.doe@example.com');
      assert.ok(Number.isInteger(claims.iat));
      assert.equal(claims.exp, claims.iat + 3600);
      assert.equal(res.body.expires_at, claims.exp);
      const refresh = claimsOf(res.body.refresh_token);
      assert.equal(refresh.token_type, 'refresh');
      assert.equal(refresh.exp, refresh.iat + 7 * 86400);
    });

    test('the example errors: 400 invalid request body, 401 invalid username or password', async () => {
      const bad = await server.request('POST', '/api/auth/login', { body: { username: 'john.doe@example.com' } });
      assert.equal(bad.status, 400);
      assert.equal(bad.text, '{"error":"invalid request body"}');
      const wrong = await server.request('POST', '/api/auth/login', { body: { username: 'john.doe@example.com', password: 'nope' } });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.text, '{"error":"invalid username or password"}');
    });

    test('the token is used as Authorization: Bearer {token}', async () => {
      const { access } = await server.login('john.doe@example.com', 'securePassword123');
      const res = await server.request('GET', '/api/auth/verify', { headers: { Authorization: `Bearer ${access}` } });
      assert.equal(res.status, 200);
      assert.equal(res.body.valid, true);
    });
  });

  describe(`the Vulcan authentication page (envelope, ${engine})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style: 'envelope', engine });
      await server.createUser('user', { email: 'user@example.com', password: 'password-1234-abc' });
    });
    after(() => server.close());

    test('login with {email, password}: data {token, expiresAt}, error null, meta {timestamp, requestId}', async () => {
      const res = await server.request('POST', '/api/auth/login', {
        body: { email: 'user@example.com', password: 'password-1234-abc' },
        headers: { 'x-request-id': 'jkl-012' },
      });
      assert.equal(res.status, 200);
      assert.equal(typeof res.body.data.token, 'string');
      assert.match(res.body.data.expiresAt, ISO_SECONDS);
      assert.equal(res.body.error, null);
      assert.deepEqual(Object.keys(res.body.meta), ['timestamp', 'requestId']);
      assert.match(res.body.meta.timestamp, ISO_SECONDS);
      assert.equal(res.body.meta.requestId, 'jkl-012');
      assert.equal(claimsOf(res.body.data.token).exp - claimsOf(res.body.data.token).iat, 3600, 'access tokens expire after 1 hour');
      assert.equal(
        claimsOf(res.body.data.refreshToken).exp - claimsOf(res.body.data.refreshToken).iat,
        7 * 86400,
        'refresh tokens after 7 days',
      );
    });

    test('401 INVALID_CREDENTIALS "Invalid email or password"', async () => {
      const res = await server.request('POST', '/api/auth/login', {
        body: { email: 'user@example.com', password: 'wrong' },
        headers: { 'x-request-id': 'mno-345' },
      });
      assert.equal(res.status, 401);
      assert.deepEqual(res.body, {
        data: null,
        error: { code: 'INVALID_CREDENTIALS', message: 'Invalid email or password' },
        meta: { timestamp: res.body.meta.timestamp, requestId: 'mno-345' },
      });
    });

    test('refresh with {refreshToken}: the same shape; a bad one is INVALID_REFRESH_TOKEN', async () => {
      const { refresh } = await server.login('user@example.com', 'password-1234-abc');
      const res = await server.request('POST', '/api/auth/refresh', {
        body: { refreshToken: refresh },
        headers: { 'x-request-id': 'pqr-678' },
      });
      assert.equal(res.status, 200);
      assert.equal(typeof res.body.data.token, 'string');
      assert.match(res.body.data.expiresAt, ISO_SECONDS);
      assert.equal(res.body.error, null);
      assert.equal(res.body.meta.requestId, 'pqr-678');
      const bad = await server.request('POST', '/api/auth/refresh', {
        body: { refreshToken: 'dGhpcyBpcyBhIHJlZnJlc2ggdG9rZW4...' },
        headers: { 'x-request-id': 'stu-901' },
      });
      assert.equal(bad.status, 401);
      assert.deepEqual(bad.body, {
        data: null,
        error: { code: 'INVALID_REFRESH_TOKEN', message: 'Invalid or expired refresh token' },
        meta: { timestamp: bad.body.meta.timestamp, requestId: 'stu-901' },
      });
    });

    test('logout with Authorization: Bearer <token> is 204 No Content and invalidates the session and refresh token', async () => {
      const { access, refresh } = await server.login('user@example.com', 'password-1234-abc');
      const res = await server.request('POST', '/api/auth/logout', { token: access });
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      assert.equal(res.headers.get('content-type'), null);
      assert.equal((await server.request('POST', '/api/auth/refresh', { body: { refreshToken: refresh } })).status, 401);
    });

    test('the VALIDATION_ERROR shape of the overview page: details [{field, message}]', async () => {
      const res = await server.request('POST', '/api/auth/login', { body: { email: 'user@example.com' } });
      assert.equal(res.status, 400);
      assert.equal(res.body.data, null);
      assert.equal(res.body.error.code, 'VALIDATION_ERROR');
      assert.deepEqual(Object.keys(res.body.error.details[0]), ['field', 'message']);
      assert.equal(res.body.error.details[0].field, 'password');
    });
  });
}
