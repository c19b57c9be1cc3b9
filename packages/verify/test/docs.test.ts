import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TEST_SECRET, type TestServer, startTestServer } from '../../server/test/support/server.ts';

const FEED_KEY = 'feed-key-for-the-docs-example-0123456789';

/** The code block of docs/verify.md marked `<!-- tested: name -->`, importing this package's source. */
function docExample(name: string): string {
  const doc = readFileSync(fileURLToPath(new URL('../../../docs/verify.md', import.meta.url)), 'utf8');
  const match = new RegExp(`<!-- tested: ${name} -->\\n\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(doc);
  assert.ok(match?.[1], `docs/verify.md has no example "${name}"`);
  return match[1].replace("from '@latchkey/verify'", "from '../src/index.ts'");
}

let server: TestServer;
before(async () => {
  server = await startTestServer({ env: { LATCHKEY_REVOCATION_FEED_KEY: FEED_KEY } });
  await server.createUser('ada');
});
after(() => server.close());

test("docs/verify.md's Fastify example protects its routes and honours a logout at once", async () => {
  const file = fileURLToPath(new URL('./.docs-fastify-example.ts', import.meta.url));
  writeFileSync(file, docExample('fastify'));
  Object.assign(process.env, { LATCHKEY_URL: server.url, LATCHKEY_JWT_SECRET: TEST_SECRET, LATCHKEY_REVOCATION_FEED_KEY: FEED_KEY });
  const { app, verifier } = (await import(file)) as {
    app: import('fastify').FastifyInstance;
    verifier: import('../src/index.ts').Verifier;
  };
  try {
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const get = async (path: string, token?: string) => {
      const res = await fetch(base + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      return { status: res.status, body: await res.json() };
    };
    const { access } = await server.login('ada');
    assert.deepEqual(await get('/api/jobs'), { status: 401, body: { error: 'missing authorization header' } });
    const jobs = await get('/api/jobs', access);
    assert.equal(jobs.status, 200);
    assert.deepEqual({ ...jobs.body.viewer, id: 0 }, { id: 0, username: 'ada', role: 'STANDARD' });
    assert.deepEqual(await get('/api/admin/report', access), { status: 403, body: { error: 'forbidden' } });
    await server.request('POST', '/api/auth/logout', { token: access });
    const deadline = Date.now() + 1000;
    while ((await get('/api/jobs', access)).status === 200) assert.ok(Date.now() < deadline, 'still accepted a second after the logout');
    assert.deepEqual(await get('/api/jobs', access), { status: 401, body: { error: 'invalid or expired token' } });
  } finally {
    verifier.close();
    await app.close();
    rmSync(file, { force: true });
  }
});
