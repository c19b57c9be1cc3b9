#!/usr/bin/env node
// The `latchkey` command. The server is TypeScript run through tsx's loader, so there is no build step.
import { register } from 'tsx/esm/api';

// A reader that goes away (`latchkey keys rotate | head -1`) makes writes fail with EPIPE. The command's work
// is done or carries on regardless, so that is not a failure: drop further output and keep the exit code.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
    throw error;
  });
}

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
