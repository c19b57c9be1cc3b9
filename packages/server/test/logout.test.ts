import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type TestServer, claimsOf, errorOf, matrix, startTestServer, TEST_ARGON2 } from './support/server.ts';

for (const { style, engine, name } of matrix()) {
  describe(`logout (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine });
      await server.createUser('ada');
    });
    after(() => server.close());

    const refresh = (token: string) => server.request('POST', '/api/auth/refresh', { body: { refresh_token: token } });
    const verify = (token: string) => server.request('GET', '/api/auth/verify', { token });

    function assertCookieCleared(setCookie: string | null) {
      assert.match(setCookie ?? '', /^latchkey_refresh=;/);
      assert.match(setCookie ?? '', /Path=\/api\/auth/);
      assert.match(setCookie ?? '', /Expires=Thu, 01 Jan 1970|Max-Age=0/);
    }

    test('logout with the Bearer token answers 204, clears the cookie and ends the session at once', async () => {
      const mine = await server.login('ada');
      const other = await server.login('ada');
      const res = await server.request('POST', '/api/auth/logout', { token: mine.access });
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      assertCookieCleared(res.headers.get('set-cookie'));
      assert.equal((await refresh(mine.refresh)).status, 401);
      const refused = await verify(mine.access);
      assert.equal(refused.status, 401);
      assert.equal(errorOf(refused, style), style === 'flat' ? 'invalid or expired token' : 'UNAUTHORIZED');
      assert.equal((await server.request('GET', '/api/auth/me', { token: mine.access })).status, 401);
      // Another session of the same user is untouched.
      assert.equal((await verify(other.access)).status, 200);
      assert.equal((await refresh(other.refresh)).status, 200);
      const audit = await server.core.store.db
        .selectFrom('audit_events')
        .select('type')
        .where('session_id', '=', claimsOf(mine.access).sid)
        .execute();
      assert.ok(audit.some((a) => a.type === 'logout'));
    });

    test('logout with a refresh token in the body, or in the cookie, ends that session', async () => {
      const byBody = await server.login('ada');
      const res = await server.request('POST', '/api/auth/logout', {
        body: { [style === 'flat' ? 'refresh_token' : 'refreshToken']: byBody.refresh },
      });
      assert.equal(res.status, 204);
      assert.equal((await verify(byBody.access)).status, 401);
      assert.equal((await refresh(byBody.refresh)).status, 401);

      const byCookie = await server.login('ada');
      const res2 = await server.request('POST', '/api/auth/logout', { headers: { cookie: `latchkey_refresh=${byCookie.refresh}` } });
      assert.equal(res2.status, 204);
      assertCookieCleared(res2.headers.get('set-cookie'));
      assert.equal((await verify(byCookie.access)).status, 401);
    });

    test('logout with neither a valid access token nor a valid refresh token is a 401', async () => {
      const none = await server.request('POST', '/api/auth/logout');
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      assert.equal(errorOf(none, style), style === 'flat' ? 'missing authorization header' : 'UNAUTHORIZED');

      const bad = await server.request('POST', '/api/auth/logout', { token: 'not.a.token' });
      assert.equal(bad.status, 401);
      assert.equal(errorOf(bad, style), style === 'flat' ? 'invalid or expired token' : 'UNAUTHORIZED');

      const badRefresh = await server.request('POST', '/api/auth/logout', { body: { refresh_token: 'nope' } });
      assert.equal(badRefresh.status, 401);
      assert.equal(errorOf(badRefresh, style), style === 'flat' ? 'failed to refresh access token' : 'INVALID_REFRESH_TOKEN');

      // A second logout of the same session is refused: its tokens are revoked.
      const s = await server.login('ada');
      assert.equal((await server.request('POST', '/api/auth/logout', { token: s.access })).status, 204);
      assert.equal((await server.request('POST', '/api/auth/logout', { token: s.access })).status, 401);
    });

    test('a revoked access token falls back to a valid refresh token given alongside it', async () => {
      const gone = await server.login('ada');
      await server.request('POST', '/api/auth/logout', { token: gone.access });
      const live = await server.login('ada');
      const res = await server.request('POST', '/api/auth/logout', { token: gone.access, body: { refresh_token: live.refresh } });
      assert.equal(res.status, 204);
      assert.equal((await verify(live.access)).status, 401);
    });

    test('logout-all ends every session of the user, and only theirs', async () => {
      await server.createUser('bob');
      const a = await server.login('ada');
      const b = await server.login('ada');
      const bob = await server.login('bob');
      const res = await server.request('POST', '/api/auth/logout-all', { token: a.access });
      assert.equal(res.status, 204);
      for (const t of [a, b]) {
        assert.equal((await verify(t.access)).status, 401);
        assert.equal((await refresh(t.refresh)).status, 401);
      }
      assert.equal((await verify(bob.access)).status, 200);
      assert.equal((await server.request('POST', '/api/auth/logout-all')).status, 401);
    });

    test('a revocation made by another process is honoured within about a second', async () => {
      const { openCore } = await import('../src/core.ts');
      const { parseConfig } = await import('../src/config.ts');
      const s = await server.login('ada');
      const other = await openCore(
        parseConfig({ DATABASE_URL: server.core.config.databaseUrl, LATCHKEY_JWT_SECRET: server.core.config.jwtSecret ?? '' }),
        { background: false, argon2Cost: TEST_ARGON2 },
      );
      try {
        await other.sessions.revoke(claimsOf(s.access).sid, 'admin');
      } finally {
        await other.close();
      }
      const deadline = Date.now() + 3000;
      let status = 200;
      while (Date.now() < deadline && status === 200) {
        status = (await verify(s.access)).status;
        if (status === 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(status, 401);
    });
  });
}
