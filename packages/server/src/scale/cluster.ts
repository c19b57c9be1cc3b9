/**
 * `latchkey serve --workers N`: one machine's cores, one listening port (node:cluster). The primary
 * applies the migrations and creates the first admin once, then forks N workers that share the port;
 * it restarts a worker that dies, and on SIGTERM/SIGINT stops them gracefully (in-flight requests finish).
 *
 * Without Redis the workers still behave as one server: rate-limit counters live in the primary's memory
 * (rate-limiter-flexible's cluster limiter, over IPC) and the primary relays revocations between workers
 * at once. With Redis, Redis does both, across machines too.
 *
 * @example
 *   if (cluster.isPrimary) process.exitCode = await runPrimary({ workers: 4, sharedLimits: true, log });
 *   else await startServer(config, workerServerOptions(config));
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { RateLimiterCluster, RateLimiterClusterMaster } from 'rate-limiter-flexible';
import type { Revocation, RevocationBus } from '../auth/revocations.ts';
import { type Config, ConfigError } from '../config.ts';
import type { LimiterFactory } from '../limits/abuse.ts';
import type { ServerOptions } from '../server.ts';
import { readRevocation } from './revocation-message.ts';

const REVOCATION_CHANNEL = 'latchkey:revocation';
/** A worker that dies is replaced after this pause, so a crash loop cannot spin the CPU. */
const RESTART_DELAY_MS = 1000;
const MAX_WORKERS = 256;

/** `--workers`: a count from 1 to 256, or `auto` for one per core. */
export function parseWorkers(value: string | undefined, config: Config): number {
  if (value === undefined) return 1;
  const count = value === 'auto' ? availableParallelism() : /^\d{1,3}$/.test(value) ? Number(value) : NaN;
  if (!(count >= 1 && count <= MAX_WORKERS))
    throw new ConfigError('--workers', `must be a number from 1 to ${MAX_WORKERS} or auto (got "${value}")`);
  if (count > 1 && config.databaseUrl === 'sqlite::memory:') {
    throw new ConfigError('--workers', 'needs a database the workers share; sqlite::memory: is private to each process');
  }
  return count;
}

interface RevocationMessage {
  readonly channel: typeof REVOCATION_CHANNEL;
  readonly revocation: Revocation;
}

function isRevocationMessage(message: unknown): message is RevocationMessage {
  return typeof message === 'object' && message !== null && (message as { channel?: unknown }).channel === REVOCATION_CHANNEL;
}

/** Revocations between the workers of one primary, relayed by it over IPC. */
class ClusterRevocationBus implements RevocationBus {
  #listener: ((message: unknown) => void) | undefined;

  constructor(private readonly maxRevocationMs: number) {}

  async publish(revocation: Revocation): Promise<void> {
    const message: RevocationMessage = { channel: REVOCATION_CHANNEL, revocation };
    // With the primary gone the channel is closed; the database poll still carries the revocation.
    await new Promise<void>((resolve) => {
      if (!process.send || !process.connected) return resolve();
      try {
        process.send(message, undefined, undefined, () => resolve());
      } catch {
        resolve();
      }
    });
  }

  async subscribe(listener: (revocation: Revocation) => void): Promise<void> {
    this.#listener = (message: unknown) => {
      if (!isRevocationMessage(message)) return;
      const revocation = readRevocation(message.revocation, Date.now() + this.maxRevocationMs);
      if (revocation) listener(revocation);
    };
    process.on('message', this.#listener);
  }

  async close(): Promise<void> {
    if (this.#listener) process.off('message', this.#listener);
  }
}

/** The options a worker starts its server with: no migrations or first admin (the primary did both). */
export function workerServerOptions(config: Config, maxRevocationMs: number): ServerOptions {
  const shared: Pick<ServerOptions, 'limiters' | 'revocationBus'> =
    config.redisUrl !== undefined
      ? {}
      : {
          limiters: ((name, limit) =>
            new RateLimiterCluster({
              keyPrefix: name,
              points: limit.points,
              duration: Math.ceil(limit.durationMs / 1000),
              timeoutMs: 1000,
            })) satisfies LimiterFactory,
          revocationBus: new ClusterRevocationBus(maxRevocationMs),
        };
  return { migrate: false, createFirstAdmin: false, ...shared };
}

/** What the primary reports (pino's loggers fit). */
export interface PrimaryLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface PrimaryOptions {
  readonly workers: number;
  /** Count rate limits in the primary's memory (no Redis); with Redis the workers count there. */
  readonly sharedLimits: boolean;
  readonly log: PrimaryLogger;
  /** How long workers get to finish in-flight requests after SIGTERM before they are killed. */
  readonly shutdownTimeoutMs?: number;
}

/**
 * Forks the workers and supervises them until SIGTERM/SIGINT; resolves with the exit code: 0 after a
 * graceful stop, 1 when a worker failed before it ever listened (bad configuration, port taken: restarting
 * would only fail again).
 */
export function runPrimary(options: PrimaryOptions): Promise<number> {
  const { log } = options;
  if (options.sharedLimits) new RateLimiterClusterMaster();
  const listening = new Set<number>();
  let stopping = false;

  cluster.on('message', (from: Worker, message: unknown) => {
    if (!isRevocationMessage(message)) return;
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker && worker.id !== from.id && worker.isConnected()) worker.send(message);
    }
  });
  cluster.on('listening', (worker, address) => {
    listening.add(worker.id);
    if (listening.size === options.workers) log.info({ workers: options.workers, port: address.port }, 'latchkey workers listening');
  });

  return new Promise<number>((resolve) => {
    const stop = (signal: string, code: number) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping workers');
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      const killer = setTimeout(() => {
        const late = workers.filter((worker) => !worker.isDead());
        log.warn({ workers: late.map((w) => w.process.pid) }, 'workers did not stop in time; killing them');
        for (const worker of late) worker.process.kill('SIGKILL');
      }, options.shutdownTimeoutMs ?? 10_000);
      Promise.all(workers.map((worker) => (worker.isDead() ? undefined : new Promise((done) => worker.once('exit', done))))).then(() => {
        clearTimeout(killer);
        resolve(code);
      });
      // SIGTERM runs the worker's own graceful shutdown (the same as a single `latchkey serve`).
      for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGTERM');
    };

    cluster.on('exit', (worker, code, signal) => {
      const wasListening = listening.delete(worker.id);
      if (stopping) return;
      if (!wasListening) {
        log.error({ worker: worker.id, code, signal }, 'a worker failed to start; stopping');
        stop('worker_failed', 1);
        return;
      }
      log.warn({ worker: worker.id, code, signal }, 'worker died; starting a new one');
      setTimeout(() => {
        if (!stopping) cluster.fork();
      }, RESTART_DELAY_MS);
    });

    process.once('SIGTERM', () => stop('SIGTERM', 0));
    process.once('SIGINT', () => stop('SIGINT', 0));
    for (let i = 0; i < options.workers; i++) cluster.fork();
  });
}
