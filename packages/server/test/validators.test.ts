/**
 * Request validators are compiled once per process (http/validators.ts): a second app with the same routes
 * compiles none, and its validation still refuses what the first refuses.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { compiledValidators } from '../src/http/validators.ts';
import { type TestServer, errorOf, STYLES, startTestServer } from './support/server.ts';

for (const style of STYLES) {
  describe(`request validators shared by the apps of a process (${style} style)`, () => {
    const servers: TestServer[] = [];
    after(async () => {
      for (const server of servers) await server.close();
    });

    test('a second app compiles no validator and refuses a bad body as the first does', async () => {
      servers.push(await startTestServer({ style }));
      const compiled = compiledValidators();
      assert.ok(compiled > 0);
      servers.push(await startTestServer({ style }));
      assert.equal(compiledValidators(), compiled);
      for (const server of servers) {
        const res = await server.request('POST', '/api/auth/login', { body: { username: 'ada', password: 42 } });
        assert.equal(res.status, 400);
        assert.equal(errorOf(res, style), style === 'flat' ? 'invalid request body' : 'VALIDATION_ERROR');
        const ok = await server.request('POST', '/api/auth/login', { body: { username: 'root', password: 'root-password-for-tests' } });
        assert.equal(ok.status, 200);
      }
    });
  });
}
