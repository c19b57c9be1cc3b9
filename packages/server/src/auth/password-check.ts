/**
 * Every check of a password a person types — login, and the current password that account changes
 * require (`POST /password`, and later `/email/change`, TOTP enrolment) — goes through here, so each one
 * is limited and audited alike (SPEC §6, issue 10 items 3, 5, 6): the login budgets are spent before the
 * hash, a wrong password is logged and audited, and a 429 is logged each time but audited once per block.
 *
 * @example
 *   await passwordCheck.checkCurrentPassword(user, body.current_password, ctx, { purpose: 'password_change' });
 */
import type { AuditLog, RequestContext } from '../audit.ts';
import { Forbidden, RateLimited } from '../errors.ts';
import { type AbuseLimiter, accountOf, hashIdentifier } from '../limits/abuse.ts';
import type { Metrics } from '../metrics.ts';
import type { User } from './users.ts';
import type { PasswordHasher } from './passwords.ts';

/** The log calls these checks need; pino's loggers fit. */
export interface EventLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

const SILENT: EventLogger = { info() {}, warn() {} };

export interface PasswordCheckDeps {
  readonly hasher: PasswordHasher;
  readonly limiter: AbuseLimiter;
  readonly audit: AuditLog;
  readonly metrics: Metrics;
}

/** What a check found; the caller decides what a failure means on its endpoint. */
export interface CheckOutcome {
  readonly ok: boolean;
  /** The limiter's account key, for {@link PasswordCheck.settle}. */
  readonly account: string;
}

export class PasswordCheck {
  constructor(private readonly deps: PasswordCheckDeps) {}

  /**
   * Spends one attempt of the login budgets for (address, account), then verifies `password` against
   * `user` (an unknown user or a password-less account costs a dummy verification, so timing tells
   * nothing). Throws {@link RateLimited} before hashing when a budget is spent. The caller reports the
   * result with {@link settle} once it knows whether the attempt succeeded as a whole.
   */
  async attempt(
    user: User | undefined,
    identifier: string,
    password: string,
    ctx: RequestContext,
    log: EventLogger = SILENT,
  ): Promise<CheckOutcome> {
    const { hasher, limiter } = this.deps;
    const ip = ctx.ip ?? 'unknown';
    const account = accountOf(user, identifier);
    try {
      await limiter.consumeAttempt(ip, account);
    } catch (error) {
      if (error instanceof RateLimited) await this.#rateLimited(error, account, identifier, ctx, log);
      throw error;
    }
    const queue = { queueKey: ip };
    try {
      const ok =
        user?.passwordHash != null ? await hasher.verify(user.passwordHash, password, queue) : await hasher.verifyDummy(password, queue);
      return { ok, account };
    } catch (error) {
      if (error instanceof RateLimited) {
        // The hash queue is full (auth/hash-pool.ts): no password was checked, so no failure is counted.
        await limiter.refundAttempt(ip, account);
        this.deps.metrics.rateLimited.inc({ limit: error.limit });
        log.warn({ event: 'rate_limited', limit: error.limit, ip }, 'hash queue full: attempt refused before hashing');
      }
      throw error;
    }
  }

  /** Gives a successful attempt's points back, or keeps a failed one's (blocking the pair at its limit). */
  async settle(ctx: RequestContext, account: string, succeeded: boolean): Promise<void> {
    const ip = ctx.ip ?? 'unknown';
    if (succeeded) await this.deps.limiter.attemptSucceeded(ip, account);
    else await this.deps.limiter.attemptFailed(ip, account);
  }

  /**
   * For endpoints that re-check the signed-in user's password before a sensitive change: throws
   * {@link RateLimited} (429) past the login budgets, which it shares with login, and {@link Forbidden}
   * (403, not 401: the caller's session is fine) for a wrong password, after logging it
   * (`password_check_failed`) and writing it to the audit log.
   */
  async checkCurrentPassword(
    user: User,
    password: string,
    ctx: RequestContext,
    options: { purpose: string; log?: EventLogger },
  ): Promise<void> {
    const log = options.log ?? SILENT;
    const { ok, account } = await this.attempt(user, user.username, password, ctx, log);
    await this.settle(ctx, account, ok);
    if (ok) return;
    this.deps.metrics.logins.inc({ outcome: 'failure' });
    log.info(
      { event: 'password_check_failed', ip: ctx.ip ?? 'unknown', user_id: user.id, purpose: options.purpose },
      'current password check failed',
    );
    await this.deps.audit.write('password_check_failed', { userId: user.id, details: { purpose: options.purpose } }, ctx);
    throw new Forbidden('current password is incorrect');
  }

  async #rateLimited(error: RateLimited, account: string, identifier: string, ctx: RequestContext, log: EventLogger): Promise<void> {
    const ip = ctx.ip ?? 'unknown';
    this.deps.metrics.rateLimited.inc({ limit: error.limit });
    this.deps.metrics.logins.inc({ outcome: 'rate_limited' });
    log.warn({ event: 'rate_limited', limit: error.limit, ip }, 'login rate limited');
    // The key of the block that refused: the address, the pair, or the account.
    const key = error.limit === 'login_per_address' ? ip : error.limit === 'login_pair' ? `${ip}|${account}` : account;
    if (await this.deps.limiter.shouldAudit(error.limit, key)) {
      await this.deps.audit.write('rate_limited', { details: { limit: error.limit, identifier_hash: hashIdentifier(identifier) } }, ctx);
    }
  }
}
