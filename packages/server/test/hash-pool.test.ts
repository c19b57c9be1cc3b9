/**
 * Issue 10 #4: the password-hash queue is bounded (a 429 with Retry-After past a length derived from the
 * measured hash time) and fair per client address. Nothing here measures time: the bound is read from the
 * pool, and the order from the queue.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { queueOptionsSymbol } from 'piscina';
import { FairQueue, HashPool, MAX_QUEUE_WAIT_MS } from '../src/auth/hash-pool.ts';
import { RateLimited } from '../src/errors.ts';

type QueuedTask = Parameters<FairQueue['push']>[0];

const task = (key: string, label: string) => ({ label, [queueOptionsSymbol]: { key } }) as unknown as QueuedTask & { label: string };

describe('the fair hash queue', () => {
  test('serves addresses round-robin: a flood from one address delays another by one job at most', () => {
    const queue = new FairQueue();
    for (let i = 1; i <= 5; i++) queue.push(task('10.0.0.1', `flood-${i}`));
    queue.push(task('10.0.0.2', 'other'));
    queue.push(task('10.0.0.3', 'third'));
    assert.equal(queue.size, 7);
    assert.equal(queue.waiting('10.0.0.1'), 5);
    const order: string[] = [];
    for (let t = queue.shift(); t !== null; t = queue.shift()) order.push((t as unknown as { label: string }).label);
    assert.deepEqual(order, ['flood-1', 'other', 'third', 'flood-2', 'flood-3', 'flood-4', 'flood-5']);
    assert.equal(queue.size, 0);
  });

  test('remove takes a job out of its address queue', () => {
    const queue = new FairQueue();
    const a = task('a', 'a1');
    queue.push(a);
    queue.push(task('a', 'a2'));
    queue.remove(a);
    assert.equal(queue.size, 1);
    assert.equal((queue.shift() as unknown as { label: string }).label, 'a2');
  });
});

describe('the bounded hash pool', () => {
  const pool = new HashPool({ threads: 1 });
  after(() => pool.close());
  // The cheapest bcrypt: the bound is 2 s of measured work whatever a hash costs, and a Retry-After within
  // it needs a hash well under 2 s even on a machine loaded many times over.
  const job = { op: 'bcrypt.hash', password: 'a password to hash', cost: 4 } as const;

  test('past its bound a flood is refused with RateLimited (429 + Retry-After), while another address still gets in', async () => {
    assert.equal(pool.queueLimit, Number.POSITIVE_INFINITY, 'unbounded until a hash time was measured');
    assert.match(await pool.run<string>(job, { queueKey: 'warm-up' }), /^\$2b\$04\$/);
    const limit = pool.queueLimit;
    assert.ok(Number.isFinite(limit) && limit >= 1, `a finite bound: ${limit}`);
    // Each run() decides admission before its first await, so the loop sees the queue it built.
    const flood = Array.from({ length: limit + 10 }, () => pool.run<string>(job, { queueKey: 'flood' }));
    const other = pool.run<string>(job, { queueKey: 'other' });
    const results = await Promise.allSettled(flood);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.ok(refused.length >= 9, `at least the 10 past the bound (less the one a worker took at once) are refused: ${refused.length}`);
    assert.ok(refused.length <= 10, `nothing within the bound is refused: ${refused.length}`);
    for (const { reason } of refused) {
      assert.ok(reason instanceof RateLimited, String(reason));
      assert.equal(reason.limit, 'hash_queue');
      assert.ok(
        reason.retryAfterSeconds >= 1 && reason.retryAfterSeconds <= Math.ceil(MAX_QUEUE_WAIT_MS / 1000) + 1,
        String(reason.retryAfterSeconds),
      );
    }
    assert.match(await other, /^\$2b\$04\$/, 'an address with nothing waiting is admitted');
  });
});

describe('the hashing threads', () => {
  const job = { op: 'bcrypt.hash', password: 'a password to hash', cost: 4 } as const;

  test('start with the first hash and end once idle, so an idle server holds none (issue 16: idle RSS)', async () => {
    const pool = new HashPool({ threads: 2, idleMs: 50 });
    try {
      assert.equal(pool.runningThreads, 0, 'no thread before the first hash');
      await Promise.all([pool.run<string>(job), pool.run<string>(job)]);
      assert.ok(pool.runningThreads >= 1, `a thread hashed: ${pool.runningThreads}`);
      // Not a timing assertion: the threads must end at some point; the deadline only stops a hung run.
      for (const deadline = Date.now() + 30_000; pool.runningThreads > 0 && Date.now() < deadline;) await setTimeout(25);
      assert.equal(pool.runningThreads, 0, 'idle threads ended');
      assert.match(await pool.run<string>(job), /^\$2b\$04\$/, 'the next hash starts a thread again');
    } finally {
      await pool.close();
    }
  });
});
