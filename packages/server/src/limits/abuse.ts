/**
 * Abuse protection for login, password checks and refresh (SPEC §6), on rate-limiter-flexible. Counters
 * live in memory, or in Redis when the factory says so (`scale/redis.ts`), so that every instance counts once.
 *
 * - login: at most N attempts per window per client address;
 * - an (address, account) pair is blocked for the window after N consecutive failures;
 * - an account is blocked after N failures from all addresses until its window is over.
 * - refresh: at most N per window per client address.
 *
 * Every budget is spent with one atomic `consume` BEFORE the password is hashed (issue 10 #5): ten
 * parallel wrong guesses cannot all pass a check that only counts after the hash. A success gives the
 * attempt back (the pair's run of failures ends; the account's count of failures loses the point).
 * The "account" is the user when the identifier names one, so a username and an email of one user share
 * their budgets; an identifier that names nobody is its own account.
 *
 * @example
 *   const account = accountOf(user, identifier);
 *   await limiter.consumeAttempt(ip, account); // throws RateLimited
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
  | 'oidc_per_address'
  /** One token per (limit, key) and block window: the 429s of one block write one audit row. */
  | 'audit_rate_limited'
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

/** The budget key of a login: the user when the identifier names one, else the identifier itself. */
export function accountOf(user: { readonly id: number } | undefined, identifier: string): string {
  return user === undefined ? `identifier:${hashIdentifier(identifier)}` : `user:${user.id}`;
}

function retryAfter(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** How long the audit of a block is aggregated: an hour covers the longest default window (SPEC §6). */
const AUDIT_AGGREGATION_MS = 3_600_000;

export class AbuseLimiter {
  readonly #perAddress: RateLimiterAbstract;
  readonly #pair: RateLimiterAbstract;
  readonly #identifier: RateLimiterAbstract;
  readonly #refresh: RateLimiterAbstract;
  readonly #oidc: RateLimiterAbstract;
  readonly #audit: RateLimiterAbstract;

  constructor(
    private readonly config: Config,
    factory: LimiterFactory = memoryLimiters,
  ) {
    this.#perAddress = factory('login_per_address', config.limitLoginPerAddress);
    this.#pair = factory('login_pair', config.limitLoginPair);
    this.#identifier = factory('login_identifier', config.limitLoginIdentifier);
    this.#refresh = factory('refresh_per_address', config.limitRefreshPerAddress);
    // OpenID sign-in shares refresh's per-address rate: a browser signs in far less often than it refreshes.
    this.#oidc = factory('oidc_per_address', config.limitRefreshPerAddress);
    this.#audit = factory('audit_rate_limited', { points: 1, durationMs: AUDIT_AGGREGATION_MS });
  }

  async #consume(limiter: RateLimiterAbstract, key: string, name: LimiterName): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) throw new RateLimited(retryAfter(rejection.msBeforeNext), name);
      throw rejection;
    }
  }

  /**
   * Spends one attempt from the address's, the pair's and the account's budgets, atomically each, before
   * any hashing; throws {@link RateLimited} when one is exhausted (also with the right password, SPEC §6).
   */
  async consumeAttempt(ip: string, account: string): Promise<void> {
    if (!this.config.limitsEnabled) return;
    await this.#consume(this.#perAddress, ip, 'login_per_address');
    await this.#consume(this.#pair, `${ip}|${account}`, 'login_pair');
    try {
      await this.#consume(this.#identifier, account, 'login_identifier');
    } catch (error) {
      // This attempt will not happen: it must not count towards the pair's consecutive failures.
      await this.#pair.reward(`${ip}|${account}`, 1);
      throw error;
    }
  }

  /** A failed attempt keeps its points; the one that reaches the pair limit blocks it a full window. */
  async attemptFailed(ip: string, account: string): Promise<void> {
    if (!this.config.limitsEnabled) return;
    const pair = await this.#pair.get(`${ip}|${account}`);
    if (pair !== null && pair.consumedPoints >= this.config.limitLoginPair.points) {
      await this.#pair.block(`${ip}|${account}`, Math.ceil(this.config.limitLoginPair.durationMs / 1000));
    }
  }

  /** An attempt that never reached the password check (the hash queue was full) gives back its pair and account points. */
  async refundAttempt(ip: string, account: string): Promise<void> {
    if (!this.config.limitsEnabled) return;
    await this.#pair.reward(`${ip}|${account}`, 1);
    await this.#identifier.reward(account, 1);
  }

  /** A success ends the pair's run of consecutive failures and is not a failure of the account. */
  async attemptSucceeded(ip: string, account: string): Promise<void> {
    if (!this.config.limitsEnabled) return;
    await this.#pair.delete(`${ip}|${account}`);
    await this.#identifier.reward(account, 1);
  }

  /**
   * True for the first 429 of `limit` for `key` in an aggregation window (an hour): blocked requests are
   * logged each, but audited once per block, so an anonymous client cannot grow the audit table.
   */
  async shouldAudit(limit: string, key: string): Promise<boolean> {
    try {
      await this.#audit.consume(`${limit}|${key}`);
      return true;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return false;
      throw rejection;
    }
  }

  async beforeRefresh(ip: string): Promise<void> {
    if (!this.config.limitsEnabled) return;
    await this.#consume(this.#refresh, ip, 'refresh_per_address');
  }

  /** OpenID sign-in endpoints (`/google*`, `/oidc/*`): per client address. */
  async beforeOidc(ip: string): Promise<void> {
    if (!this.config.limitsEnabled) return;
    await this.#consume(this.#oidc, ip, 'oidc_per_address');
  }
}
