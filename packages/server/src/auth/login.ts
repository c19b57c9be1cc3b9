/**
 * Password login (SPEC §2, §6): rate limits, constant-time behaviour for unknown users, hash upgrade,
 * session creation, and the `login_failed` log event and audit record.
 *
 * @example
 *   const tokens = await login({ identifier: 'ada', password: '…' }, ctx);
 */
import type { AuditLog, RequestContext } from '../audit.ts';
import { InvalidCredentials, RateLimited } from '../errors.ts';
import { type AbuseLimiter, hashIdentifier } from '../limits/abuse.ts';
import type { Metrics } from '../metrics.ts';
import type { PendingSignIn, SecondStep } from '../mfa/sign-in.ts';
import type { PasswordHasher } from './passwords.ts';
import type { IssuedTokens, SessionService } from './sessions.ts';
import type { UserStore } from './users.ts';

export interface LoginInput {
  /** A username or an email. */
  readonly identifier: string;
  readonly password: string;
}

/** The log calls login needs; pino's loggers fit. */
export interface EventLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface LoginDeps {
  readonly users: UserStore;
  readonly hasher: PasswordHasher;
  readonly sessions: SessionService;
  readonly limiter: AbuseLimiter;
  readonly audit: AuditLog;
  readonly metrics: Metrics;
  /** The second factor (SPEC §11): users with a factor, or obliged to have one, do not get tokens here. */
  readonly secondStep?: SecondStep;
}

export class PasswordLogin {
  constructor(private readonly deps: LoginDeps) {}

  async login(input: LoginInput, ctx: RequestContext, log: EventLogger): Promise<IssuedTokens | PendingSignIn> {
    const { users, hasher, sessions, limiter, audit, metrics } = this.deps;
    const ip = ctx.ip ?? 'unknown';
    try {
      await limiter.beforeLogin(ip, input.identifier);
    } catch (error) {
      if (error instanceof RateLimited) {
        metrics.rateLimited.inc({ limit: error.limit });
        metrics.logins.inc({ outcome: 'rate_limited' });
        log.warn({ event: 'rate_limited', limit: error.limit, ip }, 'login rate limited');
        await audit.write('rate_limited', { details: { limit: error.limit, identifier_hash: hashIdentifier(input.identifier) } }, ctx);
      }
      throw error;
    }

    const user = await users.findByIdentifier(input.identifier);
    // Unknown users and password-less accounts cost one hash verification too, so timing tells nothing.
    const passwordOk =
      user?.password_hash != null ? await hasher.verify(user.password_hash, input.password) : await hasher.verifyDummy(input.password);

    if (!user || !passwordOk || user.disabled) {
      await limiter.loginFailed(ip, input.identifier);
      const identifierHash = hashIdentifier(input.identifier);
      const reason = !user ? 'unknown_user' : !passwordOk ? 'wrong_password' : 'disabled';
      metrics.logins.inc({ outcome: 'failure' });
      log.info({ event: 'login_failed', ip, identifier_hash: identifierHash, reason }, 'login failed');
      await audit.write('login_failed', { userId: user?.id ?? null, details: { identifier_hash: identifierHash, reason } }, ctx);
      throw new InvalidCredentials();
    }

    await limiter.loginSucceeded(ip, input.identifier);
    if (user.password_hash !== null && hasher.needsRehash(user.password_hash)) {
      // Upgrade imported bcrypt hashes and older parameters while the plain password is at hand.
      await users.storeHash(user.id, await hasher.hash(input.password));
    }
    const pending = await this.deps.secondStep?.afterPrimary(user, 'pwd', ctx);
    if (pending !== undefined) return pending;
    await users.recordLogin(user.id);
    const issued = await sessions.start(user, ctx);
    metrics.logins.inc({ outcome: 'success' });
    await audit.write('login_success', { userId: user.id, sessionId: issued.sessionId }, ctx);
    return issued;
  }
}
