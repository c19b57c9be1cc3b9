#!/usr/bin/env node
// `npm test`: every *.test.ts under packages/*/test (and examples/*/test), on node's own test runner
// with tsx for TypeScript. `npm test -- <file>…` runs only those files. A run that finds no test fails.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';

function findTests(dir) {
  let found = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (entry === 'node_modules' || entry.startsWith('.')) continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found = found.concat(findTests(path));
    else if (entry.endsWith('.test.ts') || entry.endsWith('.test.tsx')) found.push(path);
  }
  return found;
}

const requested = process.argv.slice(2);
const roots = ['packages', 'examples'].flatMap((top) => {
  try {
    return readdirSync(top).map((name) => join(top, name, 'test'));
  } catch {
    return [];
  }
});
const files = requested.length > 0 ? requested : roots.flatMap(findTests).sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

for (const [name, why] of [
  ['TEST_DATABASE_URL', 'the PostgreSQL runs of the server suite and the multi-instance tests are skipped'],
  ['TEST_REDIS_URL', 'the Redis and multi-instance tests are skipped'],
]) {
  if (!process.env[name]) console.log(`# ${name} is not set: ${why}`);
}

// The timeout only catches a file that hangs (node 20 applies it to each file as a whole, and to each test in
// it); it is no speed check. Like the tests' own waits (packages/server/test/support/wait.ts), it grows with a
// machine that is already busy when the run starts, or with LATCHKEY_TEST_TIME_SCALE, up to ten times.
const asked = Number(process.env.LATCHKEY_TEST_TIME_SCALE);
const scale = Math.min(10, Math.max(1, Number.isFinite(asked) ? asked : 1, loadavg()[0] / availableParallelism()));
const timeoutMs = Math.round(180_000 * scale);
if (scale > 1) console.log(`# the machine is busy (or LATCHKEY_TEST_TIME_SCALE is set): timeouts ×${scale.toFixed(1)}`);

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', `--test-timeout=${timeoutMs}`, '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
