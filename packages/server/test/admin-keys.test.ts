import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type HttpResult, type Style, type TestServer, errorOf, headerOf, matrix, startTestServer } from './support/server.ts';

const ROOT_PASSWORD = 'root-password-for-tests';

function dataOf(res: HttpResult, style: Style): any {
  return style === 'flat' ? res.body : res.body.data;
}

function itemsOf(res: HttpResult, style: Style): any[] {
  return style === 'flat' ? res.body.items : res.body.data;
}

for (const { style, engine, name } of matrix()) {
  describe(`admin signing keys API (${name})`, () => {
    let server: TestServer;
    let root: string;
    const key = (k: string) => (style === 'flat' ? k : k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));

    before(async () => {
      // Keys kept in the database (no fixed LATCHKEY_JWT_SECRET), so that they can rotate.
      server = await startTestServer({ style, engine, env: { LATCHKEY_JWT_ALG: 'EdDSA', LATCHKEY_JWT_SECRET: '' } });
      root = (await server.login('root', ROOT_PASSWORD)).access;
    });
    after(() => server.close());

    test('without a token both are a 401, for a STANDARD user a 403, and nothing rotates', async () => {
      const before = itemsOf(await server.request('GET', '/api/admin/keys', { token: root }), style);
      for (const [method, path] of [
        ['GET', '/api/admin/keys'],
        ['POST', '/api/admin/keys/rotate'],
      ] as const) {
        const anonymous = await server.request(method, path);
        assert.equal(anonymous.status, 401);
        assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
        assert.equal(errorOf(anonymous, style), style === 'flat' ? 'missing authorization header' : 'UNAUTHORIZED');
      }
      await server.createUser('keyreader');
      const { access } = await server.login('keyreader');
      for (const [method, path] of [
        ['GET', '/api/admin/keys'],
        ['POST', '/api/admin/keys/rotate'],
      ] as const) {
        const forbidden = await server.request(method, path, { token: access });
        assert.equal(forbidden.status, 403);
        assert.equal(errorOf(forbidden, style), style === 'flat' ? 'forbidden' : 'FORBIDDEN');
      }
      assert.deepEqual(itemsOf(await server.request('GET', '/api/admin/keys', { token: root }), style), before);
    });

    test('the list shows every key with its state and no key material', async () => {
      const res = await server.request('GET', '/api/admin/keys', { token: root });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const items = itemsOf(res, style);
      assert.equal(items.length >= 1, true);
      const signing = items.filter((k) => k.state === 'signing');
      assert.equal(signing.length, 1);
      assert.equal(signing[0].kid, headerOf(root).kid);
      assert.deepEqual(Object.keys(signing[0]).sort(), ['alg', 'created_at', 'expires_at', 'kid', 'retired_at', 'state'].map(key).sort());
      assert.equal(signing[0].alg, 'EdDSA');
      assert.equal(signing[0][key('retired_at')], null);
      if (style === 'flat') assert.equal(typeof signing[0].created_at, 'number');
      else assert.match(signing[0].createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      assert.doesNotMatch(res.text, /PRIVATE|"d":|secret/i);
      if (style === 'envelope') assert.equal(res.body.meta.total, items.length);
    });

    test('a rotation publishes the new key first: it is in the JWKS while the old one still signs (SPEC §3)', async () => {
      const oldKid = headerOf(root).kid;
      const res = await server.request('POST', '/api/admin/keys/rotate', { token: root });
      assert.equal(res.status, 200, res.text);
      const rotation = dataOf(res, style);
      assert.notEqual(rotation.kid, oldKid);
      assert.deepEqual(rotation.retired, [oldKid]);
      const signsFrom = rotation[key('signs_from')];
      const at = style === 'flat' ? signsFrom * 1000 : Date.parse(signsFrom);
      assert.ok(at > Date.now() + 60_000, `signs from ${signsFrom}: after the default 5 minute publish delay`);

      const items = itemsOf(await server.request('GET', '/api/admin/keys', { token: root }), style);
      assert.equal(items.find((k) => k.kid === rotation.kid)?.state, 'published');
      assert.equal(items.find((k) => k.kid === oldKid)?.state, 'signing');
      const jwks = (await server.request('GET', '/.well-known/jwks.json')).body as { keys: { kid: string }[] };
      assert.ok(
        jwks.keys.some((k) => k.kid === rotation.kid),
        'the next key is published before it signs',
      );
      const fresh = await server.login('root', ROOT_PASSWORD);
      assert.equal(headerOf(fresh.access).kid, oldKid, 'tokens are still signed with the old key');
    });

    test('a rotation with now makes a new key sign at once, keeps the old one verifying, and is audited with the admin as actor', async () => {
      const oldKid = headerOf(root).kid;
      const res = await server.request('POST', '/api/admin/keys/rotate', { token: root, body: { now: true } });
      assert.equal(res.status, 200);
      const rotation = dataOf(res, style);
      assert.notEqual(rotation.kid, oldKid);
      assert.equal(rotation.alg, 'EdDSA');
      // The old signing key, and the key the previous test published (it never signed), stop signing now.
      assert.ok(rotation.retired.includes(oldKid), JSON.stringify(rotation.retired));
      assert.equal(rotation.removed, 0);

      const items = itemsOf(await server.request('GET', '/api/admin/keys', { token: root }), style);
      assert.equal(items.find((k) => k.kid === rotation.kid)?.state, 'signing');
      const old = items.find((k) => k.kid === oldKid);
      assert.equal(old?.state, 'verifying');
      assert.deepEqual(old?.[key('expires_at')], rotation[key('verify_until')]);

      // This instance signs with the new key at once, and the token signed with the old one still works.
      const fresh = await server.login('root', ROOT_PASSWORD);
      assert.equal(headerOf(fresh.access).kid, rotation.kid);
      assert.equal((await server.request('GET', '/api/auth/me', { token: root })).status, 200);

      const audit = itemsOf(await server.request('GET', '/api/admin/audit?type=key_rotated', { token: fresh.access }), style);
      const rootId = (await server.core.users.getByUsername('root')).id;
      const entry = audit.find((a) => a.details.kid === rotation.kid);
      assert.ok(entry, JSON.stringify(audit));
      assert.equal(entry[key('actor_user_id')], rootId);
    });
  });

  describe(`admin signing keys API with a fixed LATCHKEY_JWT_SECRET (${name})`, () => {
    let server: TestServer;
    let root: string;
    before(async () => {
      server = await startTestServer({ style, engine });
      root = (await server.login('root', ROOT_PASSWORD)).access;
    });
    after(() => server.close());

    test('the list shows the one fixed key and a rotation is a 409 that changes nothing', async () => {
      const list = await server.request('GET', '/api/admin/keys', { token: root });
      const items = itemsOf(list, style);
      assert.equal(items.length, 1);
      assert.equal(items[0].state, 'signing');
      assert.equal(items[0].kid, headerOf(root).kid);
      const res = await server.request('POST', '/api/admin/keys/rotate', { token: root });
      assert.equal(res.status, 409);
      assert.equal(
        errorOf(res, style),
        style === 'flat' ? 'the signing key is fixed by LATCHKEY_JWT_SECRET and cannot be rotated here' : 'CONFLICT',
      );
      assert.deepEqual(itemsOf(await server.request('GET', '/api/admin/keys', { token: root }), style), items);
      assert.equal(headerOf((await server.login('root', ROOT_PASSWORD)).access).kid, items[0].kid);
    });
  });
}
