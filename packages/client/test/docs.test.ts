import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PASSWORD, type TestServer, startTestServer } from '../../server/test/support/server.ts';

/** The code block of docs/client.md marked `<!-- tested: name -->`, importing this package's source. */
function docExample(name: string): string {
  const doc = readFileSync(fileURLToPath(new URL('../../../docs/client.md', import.meta.url)), 'utf8');
  const match = new RegExp(`<!-- tested: ${name} -->\\n\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(doc);
  assert.ok(match?.[1], `docs/client.md has no example "${name}"`);
  return match[1].replace("from '@latchkey/client'", "from '../src/index.ts'");
}

let server: TestServer;
before(async () => {
  server = await startTestServer();
  await server.createUser('ada');
});
after(() => server.close());

test("docs/client.md's example signs in, calls an API and signs out", async () => {
  const file = fileURLToPath(new URL('./.docs-node-example.ts', import.meta.url));
  writeFileSync(file, docExample('node'));
  Object.assign(process.env, { LATCHKEY_URL: server.url, ADA_PASSWORD: PASSWORD });
  const logged: unknown[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void logged.push(args.join(' '));
  try {
    await import(file);
  } finally {
    console.log = log;
    rmSync(file, { force: true });
  }
  assert.deepEqual(
    logged.filter((l) => typeof l === 'string' && l.startsWith('auth:')),
    ['auth: authenticated', 'auth: unauthenticated'],
  );
  assert.ok(logged.includes('signed in as ada (STANDARD)'));
  const ada = await server.core.users.findByUsername('ada');
  assert.deepEqual(await server.core.sessions.listActive(ada!.id), [], 'the logout ended the session');
});
