// A password-hashing thread of the piscina pool in hash-pool.ts. Plain JavaScript: worker threads do not
// share the main thread's TypeScript loader. Piscina lowers its priority (niceIncrement). It answers the
// hash's own duration too, from which the pool derives its queue bound.
import { performance } from 'node:perf_hooks';
import * as argon2 from '@node-rs/argon2';
import * as bcrypt from '@node-rs/bcrypt';

function hash(job) {
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

export default function run(job) {
  const started = performance.now();
  const value = hash(job);
  return { value, ms: performance.now() - started };
}
