#!/usr/bin/env node
// `npm test`: every *.test.ts under packages/*/test (and examples/*/test), on node's own test runner
// with tsx for TypeScript. `npm test -- <file>…` runs only those files. A run that finds no test fails.
//
// The files run in a few processes ("shards"), not one process each: loading tsx and the server's modules
// costs about two seconds of CPU per process, which over seventy files was a third of the whole run. Each
// shard imports its files in turn, so their tests run one file after another exactly as they would alone;
// files are dealt to shards by the CPU time each took when run alone (scripts/test-weights.json, made by
// `node scripts/test-weights.mjs`), heaviest first. `npm test -- --isolate [file…]` runs one process per file.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

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

export function testFiles() {
  const roots = ['packages', 'examples'].flatMap((top) => {
    try {
      return readdirSync(top).map((name) => join(top, name, 'test'));
    } catch {
      return [];
    }
  });
  return roots.flatMap(findTests).sort();
}

/** Longest-processing-time-first: each file, heaviest first, goes to the lightest shard so far. */
function deal(files, shardCount) {
  let weights = {};
  try {
    weights = JSON.parse(readFileSync(new URL('./test-weights.json', import.meta.url), 'utf8'));
  } catch {
    // No table: every file weighs the same.
  }
  const known = Object.values(weights).filter((w) => typeof w === 'number');
  const fallback = known.length > 0 ? known.sort((a, b) => a - b)[Math.floor(known.length / 2)] : 1;
  const weightOf = (file) => (typeof weights[file] === 'number' ? weights[file] : fallback);
  const shards = Array.from({ length: Math.min(shardCount, files.length) }, () => ({ files: [], weight: 0 }));
  for (const file of [...files].sort((a, b) => weightOf(b) - weightOf(a) || a.localeCompare(b))) {
    const lightest = shards.reduce((min, shard) => (shard.weight < min.weight ? shard : min));
    lightest.files.push(file);
    lightest.weight += weightOf(file);
  }
  // The heaviest shard starts first, so that the last to finish is a light one.
  return shards.sort((a, b) => b.weight - a.weight).map((shard) => shard.files.sort());
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const isolate = args.includes('--isolate');
  const requested = args.filter((arg) => arg !== '--isolate');
  const files = requested.length > 0 ? requested : testFiles();
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

  const concurrency = 3;
  // The timeout only catches a hang (node 20 applies it to each process as a whole, and to each test in it);
  // it is no speed check. Like the tests' own waits (packages/server/test/support/wait.ts), it grows with a
  // machine that is already busy when the run starts, or with LATCHKEY_TEST_TIME_SCALE, up to ten times.
  const asked = Number(process.env.LATCHKEY_TEST_TIME_SCALE);
  const scale = Math.min(10, Math.max(1, Number.isFinite(asked) ? asked : 1, loadavg()[0] / availableParallelism()));
  if (scale > 1) console.log(`# the machine is busy (or LATCHKEY_TEST_TIME_SCALE is set): timeouts ×${scale.toFixed(1)}`);

  let entries = files;
  let timeoutMs = Math.round(180_000 * scale);
  let scratch;
  if (!isolate && files.length > concurrency) {
    scratch = mkdtempSync(join(tmpdir(), 'latchkey-test-shards-'));
    const shards = deal(files, concurrency * 2);
    entries = shards.map((shard, i) => {
      const entry = join(scratch, `shard-${i + 1}-of-${shards.length}.mjs`);
      const lines = shard.map((file) => `await import(${JSON.stringify(pathToFileURL(resolve(file)).href)});`);
      writeFileSync(entry, `// ${shard.map((file) => relative('.', file)).join(', ')}\n${lines.join('\n')}\n`);
      return entry;
    });
    timeoutMs *= 4;
    console.log(`# ${files.length} files in ${shards.length} processes, ${concurrency} at a time (--isolate: one process per file)`);
  }

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${timeoutMs}`, '--test-reporter=spec', ...entries],
    { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
  );
  child.on('exit', (code, signal) => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    process.exit(code ?? (signal ? 1 : 0));
  });
}
