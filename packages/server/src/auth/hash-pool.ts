/**
 * Password hashing on a `piscina` worker pool, one thread per core, each at a lower CPU priority
 * (`niceIncrement`) than the event loop: the hashes use every idle cycle and yield at once when a request
 * arrives, so a login storm does not slow `/verify`. The priority is relative to the other threads of this
 * process only as far as the kernel's autogroup goes (docs/operations.md): against other processes the
 * hashing threads are not protected, nor do they protect anyone. Threads start with the first hash and
 * end after {@link IDLE_THREAD_MS} without one, so an idle server holds no hashing thread (each costs
 * ~10 MiB, more once it has hashed); piscina unrefs idle workers, so they never keep a process alive.
 *
 * The queue in front of the workers is bounded and fair (issue 10 #4):
 * - fair: jobs wait in one FIFO per client address and the workers take them round-robin, so 150 guesses
 *   from one address delay an unrelated login by at most one hash per other waiting address;
 * - bounded: past {@link MAX_QUEUE_WAIT_MS} of work (a length derived from the hash time measured by the
 *   workers themselves), a new job is refused with {@link RateLimited} (429 + `Retry-After`), except the
 *   first job of an address that has none waiting, which is admitted up to twice that length.
 *
 * @example
 *   const stored = await hashPool().run<string>({ op: 'argon2.hash', password, options }, { queueKey: ip });
 */
import { availableParallelism } from 'node:os';
import { Piscina, type TaskQueue, queueOptionsSymbol } from 'piscina';
import { RateLimited } from '../errors.ts';

/** The hashing threads' nice increment: the event loop (nice 0) gets about nine CPU turns for each of theirs. */
export const HASH_NICE = 10;

/** How long a hashing thread lives without a job; the next hash after that starts one again (tens of ms). */
export const IDLE_THREAD_MS = 30_000;

/** The longest a job may expect to wait in the queue before new ones are refused. */
export const MAX_QUEUE_WAIT_MS = 2000;

export type HashJob =
  | { readonly op: 'argon2.hash'; readonly password: string; readonly options: Readonly<Record<string, number>> }
  | { readonly op: 'argon2.verify'; readonly stored: string; readonly password: string }
  | { readonly op: 'bcrypt.hash'; readonly password: string; readonly cost: number }
  | { readonly op: 'bcrypt.verify'; readonly stored: string; readonly password: string };

export interface HashPoolOptions {
  /** How many hashing threads at most; one per core by default. */
  readonly threads?: number;
  /** Their nice increment over the event loop's; {@link HASH_NICE} by default, 0 for the same priority. */
  readonly nice?: number;
  /** How long an idle thread lives; {@link IDLE_THREAD_MS} by default. */
  readonly idleMs?: number;
}

export interface QueueOptions {
  /** Whose job this is (the client address); jobs without one share a queue. */
  readonly queueKey?: string;
}

type Task = Parameters<TaskQueue['push']>[0];

function keyOf(task: Task): string {
  const options = task[queueOptionsSymbol] as { key?: string } | null;
  return options?.key ?? '';
}

/** One FIFO per key, served round-robin. */
export class FairQueue implements TaskQueue {
  readonly #queues = new Map<string, Task[]>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** How many jobs of `key` are waiting. */
  waiting(key: string): number {
    return this.#queues.get(key)?.length ?? 0;
  }

  push(task: Task): void {
    const key = keyOf(task);
    const queue = this.#queues.get(key);
    if (queue === undefined) this.#queues.set(key, [task]);
    else queue.push(task);
    this.#size++;
  }

  shift(): Task | null {
    // Map iteration is insertion order: take the first key's oldest job, then move that key to the back.
    for (const [key, queue] of this.#queues) {
      const task = queue.shift();
      this.#queues.delete(key);
      if (queue.length > 0) this.#queues.set(key, queue);
      if (task === undefined) continue;
      this.#size--;
      return task;
    }
    return null;
  }

  remove(task: Task): void {
    const key = keyOf(task);
    const queue = this.#queues.get(key);
    const index = queue?.indexOf(task) ?? -1;
    if (queue === undefined || index === -1) return;
    queue.splice(index, 1);
    if (queue.length === 0) this.#queues.delete(key);
    this.#size--;
  }
}

interface WorkerAnswer<T> {
  readonly value: T;
  /** The hash's own time in the worker, without the queue. */
  readonly ms: number;
}

export class HashPool {
  readonly #queue = new FairQueue();
  readonly #pool: Piscina;
  readonly #threads: number;
  /** Moving average of one hash's time (ms); undefined until a first job finished. */
  #hashMs: number | undefined;

  constructor(options: HashPoolOptions = {}) {
    this.#threads = options.threads ?? availableParallelism();
    this.#pool = new Piscina({
      filename: new URL('./hash-worker.mjs', import.meta.url).href,
      // No thread until the first hash, and none left once idle: piscina starts them as jobs arrive.
      minThreads: 0,
      maxThreads: this.#threads,
      idleTimeout: options.idleMs ?? IDLE_THREAD_MS,
      niceIncrement: options.nice ?? HASH_NICE,
      taskQueue: this.#queue,
    });
  }

  /** How many hashing threads are running now (0 at an idle server). */
  get runningThreads(): number {
    return this.#pool.threads.length;
  }

  /** The queue length past which jobs are refused: {@link MAX_QUEUE_WAIT_MS} of measured work (unbounded until measured). */
  get queueLimit(): number {
    if (this.#hashMs === undefined) return Number.POSITIVE_INFINITY;
    return Math.max(this.#threads, Math.floor((MAX_QUEUE_WAIT_MS / this.#hashMs) * this.#threads));
  }

  async run<T extends string | boolean>(job: HashJob, options: QueueOptions = {}): Promise<T> {
    const key = options.queueKey ?? '';
    const waiting = this.#queue.size;
    const limit = this.queueLimit;
    const newcomer = this.#queue.waiting(key) === 0;
    if (waiting >= limit * (newcomer ? 2 : 1)) {
      // The queue ahead drains at threads / hashMs jobs a millisecond.
      const drainMs = (waiting * (this.#hashMs ?? 0)) / this.#threads;
      throw new RateLimited(Math.max(1, Math.ceil(drainMs / 1000)), 'hash_queue');
    }
    // The symbol-keyed property steers the fair queue; structured cloning leaves it out of the worker's copy.
    const answer = (await this.#pool.run({ ...job, [queueOptionsSymbol]: { key } })) as WorkerAnswer<T>;
    this.#hashMs = this.#hashMs === undefined ? answer.ms : this.#hashMs * 0.9 + answer.ms * 0.1;
    return answer.value;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

let shared: HashPool | undefined;

/** The process's hashing pool, started on first use. */
export function hashPool(): HashPool {
  shared ??= new HashPool();
  return shared;
}
