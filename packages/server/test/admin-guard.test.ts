/**
 * The admin API is one plugin with one guard (http/admin.ts): every route registered under /api/admin,
 * whichever group adds it, answers 401 to an anonymous caller and 403 to a STANDARD user, with
 * Cache-Control: no-store, before its body or query is looked at. The routes come from the app itself,
 * so a route added to the admin plugin later is held to this too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { STYLES, type TestServer, errorOf, startTestServer } from './support/server.ts';

for (const style of STYLES) {
  describe(`the admin guard (${style} style)`, () => {
    let server: TestServer;
    let standard: string;
    let routes: { method: string; path: string }[];
    before(async () => {
      server = await startTestServer({ style });
      await server.createUser('ada');
      standard = (await server.login('ada')).access;
      routes = server.server.app.latchkeyRoutes
        .filter((route) => route.url.startsWith('/api/admin/') && route.method !== 'HEAD')
        .map((route) => ({ method: route.method, path: route.url.replace(/:[a-z]+/g, '1') }));
    });
    after(() => server.close());

    test('the admin routes are the users, audit, keys and factors groups', () => {
      const paths = new Set(routes.map((route) => route.path));
      assert.deepEqual([...paths].sort(), [
        '/api/admin/audit',
        '/api/admin/keys',
        '/api/admin/keys/rotate',
        '/api/admin/users',
        '/api/admin/users/1',
        '/api/admin/users/1/factors',
        '/api/admin/users/1/password',
        '/api/admin/users/1/sessions',
      ]);
    });

    test('every admin route is a 401 without a token and a 403 for a STANDARD user, never cached', async () => {
      for (const { method, path } of routes) {
        const body = method === 'GET' || method === 'DELETE' ? {} : { body: { unexpected: true } };
        const anonymous = await server.request(method, `${path}?page=zero`, body);
        assert.equal(anonymous.status, 401, `${method} ${path}`);
        assert.equal(errorOf(anonymous, style), style === 'flat' ? 'missing authorization header' : 'UNAUTHORIZED');
        assert.equal(anonymous.headers.get('cache-control'), 'no-store');
        const refused = await server.request(method, `${path}?page=zero`, { token: standard, ...body });
        assert.equal(refused.status, 403, `${method} ${path}`);
        assert.equal(errorOf(refused, style), style === 'flat' ? 'forbidden' : 'FORBIDDEN');
        assert.equal(refused.headers.get('cache-control'), 'no-store');
      }
    });

    test('a route outside the admin API is not guarded by it', async () => {
      const res = await server.request('GET', '/healthz');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), null);
    });
  });
}
