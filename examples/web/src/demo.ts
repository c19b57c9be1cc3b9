/**
 * `npm run demo`: builds nothing itself (the npm script builds first), starts the page, Latchkey and
 * the jobs API over a fresh SQLite database, and prints where to go and how to sign in. Ports come from
 * flags or the environment (demo-ports.ts), 5173 / 8080 / 8081 by default.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DemoPortError, demoPorts } from './demo-ports.ts';
import { startStack } from './stack.ts';

let ports;
try {
  ports = demoPorts(process.argv.slice(2), process.env);
} catch (error) {
  if (!(error instanceof DemoPortError)) throw error;
  console.error(`demo: ${error.message}`);
  process.exit(2);
}

const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-demo-'));
const stack = await startStack({
  pageDir: fileURLToPath(new URL('../dist', import.meta.url)),
  databaseUrl: `sqlite:${join(dataDir, 'latchkey.db')}`,
  ports,
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
