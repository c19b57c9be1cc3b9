/**
 * `npm run demo`: builds nothing itself (the npm script builds first), starts the page, Latchkey and
 * the jobs API on fixed ports over a fresh SQLite database, and prints where to go and how to sign in.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStack } from './stack.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-demo-'));
const stack = await startStack({
  pageDir: fileURLToPath(new URL('../dist', import.meta.url)),
  databaseUrl: `sqlite:${join(dataDir, 'latchkey.db')}`,
  ports: { page: 5173, latchkey: 8080, jobs: 8081 },
  // Short access tokens, so that silent refreshes show in the browser's network tab.
  env: { LATCHKEY_ACCESS_TTL: process.env.LATCHKEY_ACCESS_TTL ?? '2m' },
});

console.log(`
  Latchkey demo is running.

    Open            ${stack.passkeyPageUrl}   (or ${stack.pageUrl}; passkeys work on localhost only)
    Username        admin
    Password        ${stack.latchkey.generatedAdminPassword}

    Latchkey        ${stack.latchkey.url}   (API docs: ${stack.latchkey.url}/docs)
    Jobs API        ${stack.jobsUrl}/api/jobs

  Ctrl-C stops everything and deletes the demo database.
`);

async function stop(): Promise<void> {
  await stack.close();
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
