#!/usr/bin/env node
// `npm test`: every *.test.ts under packages/*/test (and examples/*/test), on node's own test runner
// with tsx for TypeScript. `npm test -- <file>…` runs only those files. A run that finds no test fails.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
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

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
