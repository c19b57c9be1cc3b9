/**
 * Login CSRF (issue 10, item 13): a cross-site page must not plant an attacker's session cookie in the victim's
 * browser, nor spend or clear the victim's. Routes that set or read the refresh cookie check `Origin`, and a
 * body that is not JSON (what a cross-site form sends without a preflight) neither sets nor reads the cookie.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PASSWORD, type TestServer, errorOf, matrix, startTestServer, tokensOf } from './support/server.ts';

const CREDENTIALS = JSON.stringify({ username: 'ada', password: PASSWORD });

for (const { style, engine, name } of matrix()) {
  describe(`login CSRF (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({
        style,
        engine,
        env: {
          LATCHKEY_CORS_ORIGINS: 'https://app.example.com',
          LATCHKEY_ALLOWED_REDIRECTS: 'https://portal.example.com',
          LATCHKEY_PUBLIC_URL: 'https://auth.example.com',
        },
      });
      await server.createUser('ada');
    });
    after(() => server.close());

    const assertForbidden = (res: { status: number; headers: Headers; body: any }) => {
      assert.equal(res.status, 403);
      assert.equal(res.headers.get('set-cookie'), null);
      if (style === 'flat') assert.deepEqual(res.body, { error: 'cross-origin request refused' });
      else assert.deepEqual(res.body.error, { code: 'FORBIDDEN', message: 'Cross-origin request refused' });
    };

    test('a text/plain or form body (a cross-site <form>) logs in but sets no cookie; JSON sets it', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        const res = await server.request('POST', '/api/auth/login', { raw: CREDENTIALS, headers: { 'content-type': type } });
        assert.equal(res.status, 200, type);
        assert.ok(tokensOf(res, style).refresh, type);
        assert.equal(res.headers.get('set-cookie'), null, type);
      }
      for (const type of ['application/json', 'application/json; charset=utf-8', 'application/vnd.api+json']) {
        const res = await server.request('POST', '/api/auth/login', { raw: CREDENTIALS, headers: { 'content-type': type } });
        assert.equal(res.status, 200, type);
        assert.match(res.headers.get('set-cookie') ?? '', /^latchkey_refresh=/, type);
      }
    });

    test('a foreign Origin is refused (403) on login, refresh and logout before anything happens', async () => {
      const { access, refresh } = await server.login('ada');
      for (const origin of ['https://evil.example', 'null', 'https://auth.example.com.evil.example', 'http://auth.example.com']) {
        const headers = { origin, 'content-type': 'application/json' };
        assertForbidden(await server.request('POST', '/api/auth/login', { raw: CREDENTIALS, headers }));
        assertForbidden(await server.request('POST', '/api/auth/refresh', { headers: { origin, cookie: `latchkey_refresh=${refresh}` } }));
        assertForbidden(await server.request('POST', '/api/auth/logout', { headers: { origin, cookie: `latchkey_refresh=${refresh}` } }));
      }
      // Nothing was spent or ended: the session lives on.
      assert.equal((await server.request('GET', '/api/auth/me', { token: access })).status, 200);
      assert.equal((await server.request('POST', '/api/auth/refresh', { body: { refresh_token: refresh } })).status, 200);
    });

    test('our own origin, LATCHKEY_PUBLIC_URL, LATCHKEY_CORS_ORIGINS and LATCHKEY_ALLOWED_REDIRECTS are accepted', async () => {
      for (const origin of [server.url, 'https://auth.example.com', 'https://app.example.com', 'https://portal.example.com']) {
        const res = await server.request('POST', '/api/auth/login', {
          raw: CREDENTIALS,
          headers: { origin, 'content-type': 'application/json' },
        });
        assert.equal(res.status, 200, origin);
        assert.match(res.headers.get('set-cookie') ?? '', /^latchkey_refresh=/);
      }
      // Without Origin (curl, a server): as before.
      assert.equal((await server.request('POST', '/api/auth/login', { body: { username: 'ada', password: PASSWORD } })).status, 200);
    });

    test('a request with a non-JSON body does not read the cookie either', async () => {
      const { refresh } = await server.login('ada');
      const res = await server.request('POST', '/api/auth/refresh', {
        raw: '{}',
        headers: { 'content-type': 'text/plain', cookie: `latchkey_refresh=${refresh}` },
      });
      // The cookie is not read, so there is no token at all: "no session", like a signed-out page's refresh.
      assert.equal(res.status, 401);
      assert.equal(errorOf(res, style), style === 'flat' ? 'failed to refresh access token' : 'INVALID_REFRESH_TOKEN');
      const logout = await server.request('POST', '/api/auth/logout', {
        raw: '{}',
        headers: { 'content-type': 'text/plain', cookie: `latchkey_refresh=${refresh}` },
      });
      assert.equal(logout.status, 401);
      // The same cookie with no body (or a JSON one) works.
      assert.equal((await server.request('POST', '/api/auth/refresh', { headers: { cookie: `latchkey_refresh=${refresh}` } })).status, 200);
    });

    test('a logout that authenticates nothing leaves the cookie alone; a successful one clears it', async () => {
      const failed = await server.request('POST', '/api/auth/logout', { headers: { cookie: 'latchkey_refresh=not-a-token' } });
      assert.equal(failed.status, 401);
      assert.equal(failed.headers.get('set-cookie'), null);
      const bare = await server.request('POST', '/api/auth/logout');
      assert.equal(bare.status, 401);
      assert.equal(bare.headers.get('set-cookie'), null);
      const { refresh } = await server.login('ada');
      const ok = await server.request('POST', '/api/auth/logout', { headers: { cookie: `latchkey_refresh=${refresh}` } });
      assert.equal(ok.status, 204);
      assert.match(ok.headers.get('set-cookie') ?? '', /^latchkey_refresh=;/);
    });
  });
}
