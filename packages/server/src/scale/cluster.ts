/**
 * `latchkey serve --workers N`: one machine's cores, one listening port (node:cluster). The primary
 * applies the migrations and creates the first admin once, then forks N workers that share the port;
 * it restarts a worker that dies, and on SIGTERM/SIGINT stops them gracefully (in-flight requests finish).
 *
 * Without Redis the workers still behave as one server: rate-limit counters live in the primary's memory
 * and the primary relays revocations between workers at once. With Redis, Redis does both, across
 * machines too. The login and mail limits ask the primary on every use (rate-limiter-flexible's cluster
 * limiter over IPC: exact, and nothing next to a password hash). Refresh and OpenID sign-in, the hot
 * paths, spend points the primary leased to the worker ({@link LeasedLimiter}): one IPC round trip per
 * lease instead of one per request, and never more than the budget across all workers together.
 * Whichever worker a scrape reaches, `/metrics` answers for all of them (scale/cluster-metrics.ts).
 *
 * @example
 *   if (cluster.isPrimary) process.exitCode = await runPrimary({ workers: 4, sharedLimits: true, log });
 *   else await startServer(config, workerServerOptions(config));
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { RateLimiterCluster, RateLimiterClusterMaster, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Revocation, RevocationBus } from '../auth/revocations.ts';
import { type Config, ConfigError, type Limit } from '../config.ts';
import type { LimiterFactory, LimiterName } from '../limits/abuse.ts';
import type { ServerOptions } from '../server.ts';
import { answerMetricsRequests, workerMetrics } from './cluster-metrics.ts';
import { readRevocation } from './revocation-message.ts';

const REVOCATION_CHANNEL = 'latchkey:revocation';
const LEASE_CHANNEL = 'latchkey:lease';
/** How long a worker waits for its primary's answer before the request fails (as the cluster limiter does). */
const LIMIT_TIMEOUT_MS = 1000;
/**
 * The limiters counted by lease: one per request on the hot paths, and `consume` is all they are asked
 * (no rewards, blocks or deletes, which a lease could not carry).
 */
const LEASED: ReadonlySet<LimiterName> = new Set<LimiterName>(['refresh_per_address', 'oidc_per_address']);
/**
 * A lease is at most budget ÷ (this × workers) points, and at most half of what is left shared by the
 * workers: points leased to one worker and unused there are refused elsewhere, so a client whose
 * requests are spread over the workers may be refused up to 1/8 of its budget early — never late.
 */
const LEASE_DIVISOR = 8;
/** A worker that dies is replaced after this pause, so a crash loop cannot spin the CPU. */
const RESTART_DELAY_MS = 1000;
const MAX_WORKERS = 256;

/**
 * `--workers`: a count from 1 to 256, or `auto`: one per core on PostgreSQL, one process on SQLite. SQLite
 * takes one writer at a time for the whole file, so workers cannot write in parallel there; each one
 * also drops its page cache whenever another process committed, warms up its own JIT and commits its own
 * (smaller) groups of rotations: on SQLite more processes cost more CPU per refresh, not less. An explicit
 * count is still honoured (it helps loads of /verify, which never write).
 */
export function parseWorkers(value: string | undefined, config: Config): number {
  if (value === undefined) return 1;
  if (value === 'auto' && config.databaseUrl.startsWith('sqlite:')) return 1;
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

interface LeaseRequest {
  readonly channel: typeof LEASE_CHANNEL;
  readonly id: number;
  readonly name: LimiterName;
  readonly key: string;
  readonly points: number;
  readonly durationS: number;
}

interface LeaseAnswer {
  readonly channel: typeof LEASE_CHANNEL;
  readonly id: number;
  /** Points this worker may spend for the key until `msBeforeNext` from now; 0: the budget is spent. */
  readonly granted: number;
  readonly msBeforeNext: number;
}

function isLeaseMessage(message: unknown): message is { readonly channel: typeof LEASE_CHANNEL } {
  return typeof message === 'object' && message !== null && (message as { channel?: unknown }).channel === LEASE_CHANNEL;
}

/** The answers to this worker's lease requests, by request id (one listener for every leased limiter). */
const leaseAnswers = new Map<number, (answer: LeaseAnswer) => void>();
let nextLeaseId = 1;

function askPrimary(request: Omit<LeaseRequest, 'channel' | 'id'>): Promise<LeaseAnswer> {
  const send = process.send?.bind(process);
  if (send === undefined || !process.connected) return Promise.reject(new Error('the cluster primary is gone'));
  const id = nextLeaseId++;
  return new Promise<LeaseAnswer>((resolve, reject) => {
    const fail = (error: Error) => {
      if (leaseAnswers.delete(id)) reject(error);
    };
    const timer = setTimeout(
      () => fail(new Error(`the cluster primary did not answer a rate-limit lease within ${LIMIT_TIMEOUT_MS} ms`)),
      LIMIT_TIMEOUT_MS,
    );
    leaseAnswers.set(id, (answer) => {
      clearTimeout(timer);
      leaseAnswers.delete(id);
      resolve(answer);
    });
    const message: LeaseRequest = { channel: LEASE_CHANNEL, id, ...request };
    send(message, undefined, undefined, (error: Error | null) => {
      if (error) {
        clearTimeout(timer);
        fail(error);
      }
    });
  });
}

let listeningForLeases = false;
function listenForLeases(): void {
  if (listeningForLeases) return;
  listeningForLeases = true;
  process.on('message', (message: unknown) => {
    if (isLeaseMessage(message)) leaseAnswers.get((message as LeaseAnswer).id)?.(message as LeaseAnswer);
  });
}

/**
 * A rate limit counted in the primary, spent in the worker: the worker asks the primary for a lease of
 * points on a key (taken from the key's budget there at once) and spends it locally until it runs out
 * or the window ends. The primary never leases more than the budget, so the workers together never
 * admit more than one process would; a refusal is remembered until the window ends (the budget cannot
 * come back before). Only `consume` is supported; the memory limiter it extends (rate-limiter-flexible
 * exports no bare base class) is never asked to count, and its other operations refuse.
 */
export class LeasedLimiter extends RateLimiterMemory {
  readonly #leases = new Map<string, { left: number; until: number }>();
  /** A lease request in flight per key: concurrent requests wait for it rather than ask again. */
  readonly #asking = new Map<string, Promise<void>>();

  constructor(
    private readonly name: LimiterName,
    limit: Limit,
  ) {
    super({ keyPrefix: name, points: limit.points, duration: Math.ceil(limit.durationMs / 1000) });
    listenForLeases();
    // Leases of keys gone quiet end with their window: drop them, so the map holds active keys only.
    setInterval(
      () => {
        const now = Date.now();
        for (const [key, lease] of this.#leases) if (lease.until <= now) this.#leases.delete(key);
      },
      Math.max(1000, limit.durationMs),
    ).unref();
  }

  override async consume(key: string | number, pointsToConsume = 1): Promise<RateLimiterRes> {
    if (pointsToConsume !== 1) throw new Error('a leased limiter spends one point at a time');
    const k = String(key);
    for (;;) {
      const lease = this.#leases.get(k);
      const now = Date.now();
      if (lease !== undefined && lease.until > now) {
        if (lease.left > 0) {
          lease.left -= 1;
          return new RateLimiterRes(lease.left, lease.until - now, 1, false);
        }
        if (lease.left < 0) throw new RateLimiterRes(0, lease.until - now, this.points + 1, false);
      }
      let asking = this.#asking.get(k);
      if (asking === undefined) {
        asking = this.#lease(k).finally(() => this.#asking.delete(k));
        this.#asking.set(k, asking);
      }
      await asking;
    }
  }

  override penalty(): Promise<RateLimiterRes> {
    return Promise.reject(new Error('a leased limiter only consumes'));
  }

  override reward(): Promise<RateLimiterRes> {
    return Promise.reject(new Error('a leased limiter only consumes'));
  }

  override get(): Promise<RateLimiterRes | null> {
    return Promise.reject(new Error('a leased limiter only consumes'));
  }

  override block(): Promise<RateLimiterRes> {
    return Promise.reject(new Error('a leased limiter only consumes'));
  }

  override delete(): Promise<boolean> {
    return Promise.reject(new Error('a leased limiter only consumes'));
  }

  async #lease(key: string): Promise<void> {
    const answer = await askPrimary({ name: this.name, key, points: this.points, durationS: this.duration });
    // -1: refused until the window ends; the primary's budget for the key is spent.
    this.#leases.set(key, { left: answer.granted > 0 ? answer.granted : -1, until: Date.now() + answer.msBeforeNext });
  }
}

/** The options a worker starts its server with: no migrations or first admin (the primary did both). */
export function workerServerOptions(config: Config, maxRevocationMs: number): ServerOptions {
  const shared: Pick<ServerOptions, 'limiters' | 'revocationBus'> =
    config.redisUrl !== undefined
      ? {}
      : {
          limiters: ((name, limit) =>
            LEASED.has(name)
              ? new LeasedLimiter(name, limit)
              : new RateLimiterCluster({
                  keyPrefix: name,
                  points: limit.points,
                  duration: Math.ceil(limit.durationMs / 1000),
                  timeoutMs: LIMIT_TIMEOUT_MS,
                })) satisfies LimiterFactory,
          revocationBus: new ClusterRevocationBus(maxRevocationMs),
        };
  // `/metrics` answers for every worker, with or without Redis.
  return { migrate: false, createFirstAdmin: false, metrics: workerMetrics(), ...shared };
}

/**
 * The primary's side of {@link LeasedLimiter}: the budgets themselves (rate-limiter-flexible's memory
 * limiter, one per limit), and the leases taken from them. Grants run one at a time, so reading what is
 * left and taking the lease from it is one atomic step.
 */
class LeaseKeeper {
  readonly #limiters = new Map<LimiterName, RateLimiterMemory>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly workers: number) {}

  grant(request: LeaseRequest): Promise<LeaseAnswer> {
    const answer = this.#queue.then(() => this.#grant(request));
    this.#queue = answer.catch(() => undefined);
    return answer;
  }

  async #grant({ id, name, key, points, durationS }: LeaseRequest): Promise<LeaseAnswer> {
    let limiter = this.#limiters.get(name);
    if (limiter === undefined) {
      limiter = new RateLimiterMemory({ keyPrefix: name, points, duration: durationS });
      this.#limiters.set(name, limiter);
    }
    const used = (await limiter.get(key))?.consumedPoints ?? 0;
    const left = points - used;
    const granted =
      left <= 0 ? 0 : Math.max(1, Math.min(Math.floor(points / (LEASE_DIVISOR * this.workers)), Math.floor(left / (2 * this.workers))));
    if (granted === 0) {
      const spent = await limiter.get(key);
      return { channel: LEASE_CHANNEL, id, granted, msBeforeNext: spent?.msBeforeNext ?? durationS * 1000 };
    }
    const taken = await limiter.consume(key, granted);
    return { channel: LEASE_CHANNEL, id, granted, msBeforeNext: taken.msBeforeNext };
  }
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
  const leases = new LeaseKeeper(options.workers);
  const listening = new Set<number>();
  let stopping = false;

  const metrics = answerMetricsRequests(() =>
    Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && listening.has(w.id)),
  );

  cluster.on('message', (from: Worker, message: unknown) => {
    if (metrics(from, message)) return;
    if (isLeaseMessage(message)) {
      void leases.grant(message as LeaseRequest).then((answer) => {
        if (from.isConnected()) from.send(answer);
      });
      return;
    }
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
