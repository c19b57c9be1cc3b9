// A password-hashing thread of the pool in hash-pool.ts. Plain JavaScript: worker threads do not share
// the main thread's TypeScript loader. It lowers its own CPU priority first, so that a login storm
// never delays the event loop (Linux only: elsewhere it runs at the normal priority).
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import * as argon2 from '@node-rs/argon2';
import * as bcrypt from '@node-rs/bcrypt';

try {
  // /proc/thread-self names this thread; on Linux a thread id given to setpriority changes that thread only.
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, workerData.nice);
} catch {
  // Not Linux, or not allowed: hashing still runs off the event loop, at the normal priority.
}

function run(job) {
  switch (job.op) {
    case 'argon2.hash':
      return argon2.hashSync(job.password, job.options);
    case 'argon2.verify':
      return argon2.verifySync(job.stored, job.password);
    case 'bcrypt.hash':
      return bcrypt.hashSync(job.password, { cost: job.cost });
    case 'bcrypt.verify':
      return bcrypt.verifySync(job.password, job.stored);
    default:
      throw new Error(`unknown hash job ${job.op}`);
  }
}

parentPort.on('message', (job) => {
  try {
    parentPort.postMessage({ id: job.id, value: run(job) });
  } catch (error) {
    parentPort.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
  }
});
