#!/usr/bin/env node
// The `latchkey` command. It runs the JavaScript that `npm run build` (run on install by the root `prepare`)
// put in dist/, so that no command compiles TypeScript at run time. When dist/ is missing or older than a
// source file (a checkout edited or pulled since the last build), it runs the source through tsx instead,
// so that the command never runs stale code.
import { readdirSync, statSync } from 'node:fs';

// A reader that goes away (`latchkey keys rotate | head -1`) makes writes fail with EPIPE. The command's work
// is done or carries on regardless, so that is not a failure: drop further output and keep the exit code.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
    throw error;
  });
}

const src = new URL('../src/', import.meta.url);
const built = new URL('../dist/cli.js', import.meta.url);

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const mtime = entry.isDirectory() ? newestMtime(new URL(`${entry.name}/`, dir)) : statSync(new URL(entry.name, dir)).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

function builtIsCurrent() {
  let builtAt;
  try {
    builtAt = statSync(built).mtimeMs;
  } catch {
    return false;
  }
  try {
    return newestMtime(src) <= builtAt;
  } catch {
    // An install without the sources (a production image) has only dist/.
    return true;
  }
}

let main;
if (builtIsCurrent()) {
  ({ main } = await import(built.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(new URL('cli.ts', src).href));
}
process.exitCode = await main(process.argv.slice(2));
