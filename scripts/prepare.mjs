#!/usr/bin/env node
// Root `prepare` (run by `npm install` and `npm ci`): builds the workspace packages and the server, so that
// `@latchkey/client` and `@latchkey/verify` resolve to files that exist and `latchkey` runs JavaScript.
// An install without dev dependencies (`--omit=dev`, a production image) has no TypeScript to build with:
// it says so and succeeds, and `latchkey` then runs the source through tsx (see packages/server/bin).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

try {
  createRequire(import.meta.url).resolve('typescript');
} catch {
  console.log('latchkey prepare: TypeScript is not installed (production install), so nothing is built');
  process.exit(0);
}
const npm = process.env.npm_execpath;
const result = npm
  ? spawnSync(process.execPath, [npm, 'run', 'build'], { stdio: 'inherit' })
  : spawnSync('npm', ['run', 'build'], { stdio: 'inherit', shell: process.platform === 'win32' });
process.exit(result.status ?? 1);
