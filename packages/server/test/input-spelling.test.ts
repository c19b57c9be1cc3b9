/**
 * Routes read one spelling of their body fields (http/input-spelling.ts): a camelCase field reaches the
 * handler under its snake_case name in either style, the snake_case one wins when a client sends both (as
 * when handlers read `a ?? b`), and a field the route does not name in both spellings is left alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spellingPairs } from '../src/http/input-spelling.ts';
import { PASSWORD, STYLES, type TestServer, claimsOf, startTestServer, tokensOf } from './support/server.ts';

describe('spellingPairs', () => {
  test('pairs only the fields a schema names in both spellings', () => {
    const schema = { type: 'object', properties: { current_password: {}, currentPassword: {}, rawId: {}, code: {} } };
    assert.deepEqual(spellingPairs(schema), [['currentPassword', 'current_password']]);
    assert.deepEqual(spellingPairs(undefined), []);
  });
});

for (const style of STYLES) {
  describe(`one input spelling (${style} style)`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style });
      await server.createUser('ada');
    });
    after(() => server.close());

    test('refresh takes {refreshToken} and {refresh_token}', async () => {
      for (const key of ['refreshToken', 'refresh_token']) {
        const { refresh } = await server.login('ada');
        const res = await server.request('POST', '/api/auth/refresh', { body: { [key]: refresh } });
        assert.equal(res.status, 200, key);
        assert.equal(claimsOf(tokensOf(res, style).access).sub, claimsOf(refresh).sub);
      }
    });

    test('with both spellings the snake_case one is used', async () => {
      const { refresh } = await server.login('ada');
      const wrong = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: 'not-a-token', refreshToken: refresh } });
      assert.equal(wrong.status, 401);
      const right = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: refresh, refreshToken: 'not-a-token' } });
      assert.equal(right.status, 200);
    });

    test('a password change reads {currentPassword, newPassword}', async () => {
      await server.createUser('grace');
      const { access } = await server.login('grace');
      const next = 'a different passphrase entirely';
      const res = await server.request('POST', '/api/auth/password', {
        token: access,
        body: { currentPassword: PASSWORD, newPassword: next },
      });
      assert.equal(res.status, 204);
      assert.equal((await server.request('POST', '/api/auth/login', { body: { username: 'grace', password: next } })).status, 200);
    });
  });
}
