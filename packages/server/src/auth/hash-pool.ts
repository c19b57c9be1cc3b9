/**
 * Password hashing on worker threads of its own, one per core, each at a lower CPU priority (nice 10)
 * than the event loop. Hashing on libuv's pool kept it off the event loop, but on a busy machine the
 * hashing threads still took CPU turns from the event loop: during a login storm every other request
 * (`/verify` above all) waited behind them. At a lower priority the hashes use every idle cycle and yield
 * at once when a request arrives. Workers are unref'd while idle, so they never keep a process alive.
 *
 * @example
 *   const stored = await hashPool().run<string>({ op: 'argon2.hash', password, options });
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** The hashing threads' nice value: the event loop (nice 0) gets about nine CPU turns for each of theirs. */
const HASH_NICE = 10;

export type HashJob =
  | { readonly op: 'argon2.hash'; readonly password: string; readonly options: Readonly<Record<string, number>> }
  | { readonly op: 'argon2.verify'; readonly stored: string; readonly password: string }
  | { readonly op: 'bcrypt.hash'; readonly password: string; readonly cost: number }
  | { readonly op: 'bcrypt.verify'; readonly stored: string; readonly password: string };

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  /** The job running on it, if any. */
  job: number | undefined;
}

export class HashPool {
  readonly #slots: Slot[] = [];
  readonly #queue: { id: number; job: HashJob }[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  constructor(private readonly size = availableParallelism()) {}

  run<T extends string | boolean>(job: HashJob): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#queue.push({ id, job });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => s.job === undefined);
      if (slot === undefined && this.#slots.length < this.size) slot = this.#spawn();
      if (slot === undefined) return;
      const next = this.#queue.shift()!;
      slot.job = next.id;
      slot.worker.ref(); // a job in flight keeps the process alive until it answers
      slot.worker.postMessage({ id: next.id, ...next.job });
    }
  }

  #spawn(): Slot {
    const worker = new Worker(new URL('./hash-worker.mjs', import.meta.url), { workerData: { nice: HASH_NICE } });
    const slot: Slot = { worker, job: undefined };
    worker.unref();
    worker.on('message', (message: { id: number; value?: string | boolean; error?: string }) => {
      slot.job = undefined;
      worker.unref();
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error !== undefined) pending?.reject(new Error(message.error));
      else pending?.resolve(message.value);
      this.#dispatch();
    });
    worker.on('error', (error) => this.#lost(slot, error));
    worker.on('exit', (code) => this.#lost(slot, new Error(`hash worker exited with code ${code}`)));
    this.#slots.push(slot);
    return slot;
  }

  /** A worker died: fail its job, forget it, and let the next job start a new one. */
  #lost(slot: Slot, error: Error): void {
    const index = this.#slots.indexOf(slot);
    if (index === -1) return;
    this.#slots.splice(index, 1);
    if (slot.job !== undefined) {
      this.#pending.get(slot.job)?.reject(error);
      this.#pending.delete(slot.job);
    }
    this.#dispatch();
  }
}

let shared: HashPool | undefined;

/** The process's hashing pool, started on first use. */
export function hashPool(): HashPool {
  shared ??= new HashPool();
  return shared;
}
