/**
 * Redis, for several instances that behave as one server (SPEC §8): rate-limit counters live in Redis
 * (rate-limiter-flexible's Redis store), and revocations are pushed to every instance over pub/sub.
 * Every key and the channel carry the deployment's prefix (`LATCHKEY_REDIS_PREFIX`).
 *
 * While Redis is away, rate limiting **fails open to local limits**: each limiter falls back to an
 * in-memory insurance limiter with the same rules, so login and refresh keep working and stay limited,
 * but counted per instance (N instances allow up to N times the budget) until Redis answers again.
 * Revocations keep reaching the other instances through the database poll (within 1 s), and `/readyz`
 * reports `redis: down`. Nothing here ever makes a request wait longer than {@link REDIS_TIMEOUT_MS}.
 *
 * @example
 *   const redis = await openRedisScale({ url: config.redisUrl, prefix: config.redisPrefix, maxRevocationMs });
 *   const core = await openCore(config, { limiters: redis.limiters, revocationBus: redis.revocationBus });
 *   core.addReadinessProbe('redis', () => redis.ping());
 */
import { Redis, type RedisOptions } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { Revocation, RevocationBus } from '../auth/revocations.ts';
import { type LimiterFactory, memoryLimiters } from '../limits/abuse.ts';
import { urlWithoutPassword } from '../redact.ts';
import { readRevocation } from './revocation-message.ts';

/** The longest a Redis command may take before the request goes on without it (insurance limiter). */
export const REDIS_TIMEOUT_MS = 500;

export interface RedisScaleOptions {
  readonly url: string;
  /** Prefix of every key and of the revocation channel, e.g. `latchkey:`. */
  readonly prefix: string;
  /**
   * The longest a revocation learnt from Redis is kept (access TTL + clock skew): a message written into
   * Redis by someone else cannot keep a session refused for longer than its tokens could live.
   */
  readonly maxRevocationMs: number;
}

/** Where Redis's state changes are reported (pino's loggers fit). */
export interface RedisEventLogger {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  /** Each failed attempt during an outage (the warning itself is logged once per outage). */
  debug?(obj: object, msg?: string): void;
}

export interface RedisScale {
  /** Rate limiters counted in Redis, each insured by an in-memory one with the same rules. */
  readonly limiters: LimiterFactory;
  readonly revocationBus: RevocationBus;
  /** Resolves when Redis answers and the revocation subscription is live; the `/readyz` probe. */
  ping(): Promise<void>;
  /** Reports Redis going away and coming back (once per change, not per retry). */
  setLogger(logger: RedisEventLogger): void;
  close(): Promise<void>;
}

/**
 * Subscribes `subscriber` to `channel` each time its connection is ready: now if it is, and again after
 * every reconnect (a second SUBSCRIBE to a channel changes nothing). Never during the connection's
 * handshake: ioredis writes a SUBSCRIBE at once then, its ready check's INFO that follows is refused in
 * subscriber mode, it reconnects, and, the subscription never having been confirmed on a ready connection,
 * does not subscribe again; the instance stayed connected and ready, and heard no pushed revocation.
 */
export function subscribeWhenReady(subscriber: Redis, channel: string): void {
  const subscribe = () => void subscriber.subscribe(channel).catch(() => undefined);
  subscriber.on('ready', subscribe);
  if (subscriber.status === 'ready') subscribe();
}

/** The revocation channel of a deployment. */
export function revocationChannel(prefix: string): string {
  return `${prefix}revocations`;
}

function parseRevocation(message: string, latestExpiry: number): Revocation | undefined {
  try {
    return readRevocation(JSON.parse(message), latestExpiry);
  } catch {
    return undefined;
  }
}

class RedisRevocationBus implements RevocationBus {
  readonly #channel: string;

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    prefix: string,
    private readonly maxRevocationMs: number,
    private readonly closeAll: () => Promise<void>,
  ) {
    this.#channel = revocationChannel(prefix);
  }

  /** Never fails: with Redis away, the other instances still learn the revocation from the database. */
  async publish(revocation: Revocation): Promise<void> {
    await this.publisher.publish(this.#channel, JSON.stringify(revocation)).catch(() => undefined);
  }

  async subscribe(listener: (revocation: Revocation) => void): Promise<void> {
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      const revocation = parseRevocation(message, Date.now() + this.maxRevocationMs);
      if (revocation) listener(revocation);
    });
    // Not awaited: with Redis down at start the instance still serves.
    subscribeWhenReady(this.subscriber, this.#channel);
  }

  async close(): Promise<void> {
    await this.closeAll();
  }
}

/** Connects to Redis (waiting at most a second, so a down Redis never stops a start) and builds the parts. */
export async function openRedisScale(options: RedisScaleOptions): Promise<RedisScale> {
  const common: RedisOptions = {
    connectTimeout: 1000,
    // Keep trying forever, at most a second apart: service resumes by itself when Redis returns.
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
    lazyConnect: false,
  };
  const client = new Redis(options.url, {
    ...common,
    // With Redis away, commands fail at once (the insurance limiter answers) instead of queueing.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: REDIS_TIMEOUT_MS,
  });
  const subscriber = new Redis(options.url, { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null });

  let logger: RedisEventLogger | undefined;
  // The error that started the current outage, or undefined while Redis answers.
  let outage: Error | undefined;
  // Whether the current outage has been logged: once per outage, not once per retry.
  let reported = false;
  const redis = urlWithoutPassword(options.url);
  const reportOutage = () => {
    if (outage === undefined || reported || logger === undefined) return;
    reported = true;
    logger.warn(
      { event: 'redis_unavailable', redis, err: { message: outage.message || outage.name } },
      `redis at ${redis} unavailable: rate limits count per instance and revocations travel through the database until it returns; check that Redis is running and REDIS_URL`,
    );
  };
  const onError = (error: Error) => {
    outage ??= error;
    if (reported)
      logger?.debug?.({ event: 'redis_retry', redis, err: { message: error.message || error.name } }, 'redis still unavailable');
    reportOutage();
  };
  const onReady = () => {
    if (outage !== undefined && reported) logger?.info({ event: 'redis_available', redis }, `redis at ${redis} available again`);
    outage = undefined;
    reported = false;
  };
  client.on('error', onError);
  subscriber.on('error', onError);
  client.on('ready', onReady);

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      client.disconnect();
      subscriber.disconnect();
    })();
    return closed;
  };

  // A start right after Redis comes up should count in Redis from its first request.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 1000);
    timer.unref();
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });

  return {
    limiters: (name, limit) =>
      new RateLimiterRedis({
        storeClient: client,
        keyPrefix: `${options.prefix}limit:${name}`,
        points: limit.points,
        duration: Math.ceil(limit.durationMs / 1000),
        rejectIfRedisNotReady: true,
        insuranceLimiter: memoryLimiters(name, limit),
      }),
    revocationBus: new RedisRevocationBus(client, subscriber, options.prefix, options.maxRevocationMs, close),
    async ping() {
      await client.ping();
      // Without a live subscription this instance would miss pushed revocations.
      if (subscriber.status !== 'ready') throw new Error('redis subscription is not connected');
    },
    setLogger(next) {
      logger = next;
      // Redis was already away at start, before there was a logger: say so now.
      reportOutage();
    },
    close,
  };
}
