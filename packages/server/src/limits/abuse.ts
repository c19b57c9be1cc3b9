/**
 * Abuse protection for login and refresh (SPEC §6), on rate-limiter-flexible. Counters live in
 * memory, or in Redis when the factory says so (`scale/redis.ts`), so that every instance counts once.
 *
 * - login: at most N attempts per window per client address;
 * - a (address, identifier) pair is blocked for the window after N consecutive failures;
 * - an identifier is blocked after N failures from all addresses until its window is over;
 * - refresh: at most N per window per client address.
 *
 * @example
 *   await limiter.beforeLogin(ip, identifier); // throws RateLimited
 */
import { createHash } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config, Limit } from '../config.ts';
import { RateLimited } from '../errors.ts';
import { identifierKey } from '../auth/users.ts';

export type LimiterName =
  | 'login_per_address'
  | 'login_pair'
  | 'login_identifier'
  | 'refresh_per_address'
  // Requests that may send mail (SPEC §10; mail/limits.ts).
  | 'mail_per_address'
  | 'mail_per_recipient';

/** Makes one limiter; the store behind it (memory, Redis) is the factory's business. */
export type LimiterFactory = (name: LimiterName, limit: Limit) => RateLimiterAbstract;

export const memoryLimiters: LimiterFactory = (name, limit) =>
  new RateLimiterMemory({ keyPrefix: name, points: limit.points, duration: Math.ceil(limit.durationMs / 1000) });

/** Identifiers are counted by hash, so no store (Redis, logs) ever holds one in clear. */
export function hashIdentifier(identifier: string): string {
  return createHash('sha256').update(identifierKey(identifier)).digest('hex').slice(0, 32);
}

function retryAfter(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

export class AbuseLimiter {
  readonly #perAddress: RateLimiterAbstract;
  readonly #pair: RateLimiterAbstract;
  readonly #identifier: RateLimiterAbstract;
  readonly #refresh: RateLimiterAbstract;

  constructor(
    private readonly config: Config,
    factory: LimiterFactory = memoryLimiters,
  ) {
    this.#perAddress = factory('login_per_address', config.limitLoginPerAddress);
    this.#pair = factory('login_pair', config.limitLoginPair);
    this.#identifier = factory('login_identifier', config.limitLoginIdentifier);
    this.#refresh = factory('refresh_per_address', config.limitRefreshPerAddress);
  }

  async #consume(limiter: RateLimiterAbstract, key: string, name: LimiterName): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) throw new RateLimited(retryAfter(rejection.msBeforeNext), name);
      throw rejection;
    }
  }

  async #assertNotBlocked(limiter: RateLimiterAbstract, key: string, points: number, name: LimiterName): Promise<void> {
    const state = await limiter.get(key);
    if (state !== null && state.consumedPoints >= points) throw new RateLimited(retryAfter(state.msBeforeNext), name);
  }

  /** Counts a login attempt and refuses it when any login limit is reached. */
  async beforeLogin(ip: string, identifier: string): Promise<void> {
    if (!this.config.limitsEnabled) return;
    const id = hashIdentifier(identifier);
    await this.#consume(this.#perAddress, ip, 'login_per_address');
    await this.#assertNotBlocked(this.#pair, `${ip}|${id}`, this.config.limitLoginPair.points, 'login_pair');
    await this.#assertNotBlocked(this.#identifier, id, this.config.limitLoginIdentifier.points, 'login_identifier');
  }

  async loginFailed(ip: string, identifier: string): Promise<void> {
    if (!this.config.limitsEnabled) return;
    const id = hashIdentifier(identifier);
    const pair = await this.#pair.penalty(`${ip}|${id}`, 1);
    if (pair.consumedPoints >= this.config.limitLoginPair.points) {
      // The block runs a full window from the failure that reached the limit.
      await this.#pair.block(`${ip}|${id}`, Math.ceil(this.config.limitLoginPair.durationMs / 1000));
    }
    await this.#identifier.penalty(id, 1);
  }

  /** A success ends the pair's run of consecutive failures. */
  async loginSucceeded(ip: string, identifier: string): Promise<void> {
    if (!this.config.limitsEnabled) return;
    await this.#pair.delete(`${ip}|${hashIdentifier(identifier)}`);
  }

  async beforeRefresh(ip: string): Promise<void> {
    if (!this.config.limitsEnabled) return;
    await this.#consume(this.#refresh, ip, 'refresh_per_address');
  }
}
