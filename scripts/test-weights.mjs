#!/usr/bin/env node
// Remakes scripts/test-weights.json: runs each test file alone, one after another, and records the seconds it
// took. `npm test` deals files to its processes by these weights (a file missing from the table counts as the
// median); nothing fails when they are stale, the processes just end less evenly. Takes ~10 minutes.
// `node scripts/test-weights.mjs [file…]` remeasures only those files and keeps the rest of the table.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { testFiles } from './test.mjs';

const table = new URL('./test-weights.json', import.meta.url);
let weights = {};
try {
  weights = JSON.parse(readFileSync(table, 'utf8'));
} catch {
  // A new table.
}
const requested = process.argv.slice(2);
const all = testFiles();
for (const file of requested.length > 0 ? requested : all) {
  const started = performance.now();
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=dot', file], {
    stdio: 'ignore',
    env: { ...process.env, NODE_ENV: 'test' },
  });
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  console.log(`${seconds.toFixed(1).padStart(6)} s  ${file}${run.status === 0 ? '' : '  (failed)'}`);
  weights[file] = seconds;
}
const kept = Object.fromEntries(all.filter((file) => weights[file] !== undefined).map((file) => [file, weights[file]]));
writeFileSync(table, JSON.stringify(kept, null, 2) + '\n');
