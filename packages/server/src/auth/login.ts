/**
 * Password login (SPEC §2, §6): rate limits spent before the hash, constant-time behaviour for unknown
 * users, hash upgrade, session creation, and the `login_failed` log event and audit record.
 *
 * @example
 *   const tokens = await login({ identifier: 'ada', password: '…' }, ctx);
 */
import type { AuditLog, RequestContext } from '../audit.ts';
import { EmailNotVerified, InvalidCredentials } from '../errors.ts';
import { hashIdentifier } from '../limits/abuse.ts';
import type { Metrics } from '../metrics.ts';
import type { EventLogger, PasswordCheck } from './password-check.ts';
import type { PendingSignIn, SecondStep } from '../mfa/sign-in.ts';
import type { PasswordHasher } from './passwords.ts';
import type { IssuedTokens, SessionService } from './sessions.ts';
import type { UserStore } from './users.ts';

export type { EventLogger } from './password-check.ts';

export interface LoginInput {
  /** A username or an email. */
  readonly identifier: string;
  readonly password: string;
}

export interface LoginDeps {
  readonly users: UserStore;
  readonly hasher: PasswordHasher;
  readonly sessions: SessionService;
  readonly passwordCheck: PasswordCheck;
  readonly audit: AuditLog;
  readonly metrics: Metrics;
  /** LATCHKEY_SIGNUP=verify: a right password for an unconfirmed address is refused (SPEC §10). */
  readonly requireVerifiedEmail?: boolean;
  /** The second factor (SPEC §11): users with a factor, or obliged to have one, do not get tokens here. */
  readonly secondStep?: SecondStep;
}

export class PasswordLogin {
  constructor(private readonly deps: LoginDeps) {}

  async login(input: LoginInput, ctx: RequestContext, log: EventLogger): Promise<IssuedTokens | PendingSignIn> {
    const { users, hasher, sessions, passwordCheck, audit, metrics } = this.deps;
    const ip = ctx.ip ?? 'unknown';
    // Read first (no hashing yet): the budgets are the account's, whichever of its identifiers was typed.
    const user = await users.findByIdentifier(input.identifier);
    const { ok: passwordOk, account } = await passwordCheck.attempt(user, input.identifier, input.password, ctx, log);
    const succeeded = user !== undefined && passwordOk && !user.disabled;
    await passwordCheck.settle(ctx, account, succeeded);

    if (!succeeded) {
      const identifierHash = hashIdentifier(input.identifier);
      const reason = !user ? 'unknown_user' : !passwordOk ? 'wrong_password' : 'disabled';
      metrics.logins.inc({ outcome: 'failure' });
      log.info({ event: 'login_failed', ip, identifier_hash: identifierHash, reason }, 'login failed');
      await audit.write('login_failed', { userId: user?.id ?? null, details: { identifier_hash: identifierHash, reason } }, ctx);
      throw new InvalidCredentials();
    }
    // Only after the password proved who is asking: a wrong password stays a plain 401.
    if (this.deps.requireVerifiedEmail && !user.emailVerified) throw new EmailNotVerified();
    // A user with a second factor (or obliged to have one) gets the second step, not tokens (SPEC §11).
    const pending = await this.deps.secondStep?.afterPrimary(user, 'pwd', ctx);
    if (pending !== undefined) return pending;

    // Upgrade imported bcrypt hashes and older parameters while the plain password is at hand; stored by
    // the session's own statement, so a password changed meanwhile is never overwritten with the old one.
    const rehash = user.passwordHash !== null && hasher.needsRehash(user.passwordHash) ? await hasher.hash(input.password) : undefined;
    let issued: IssuedTokens;
    try {
      // The login time, the session and the login_success record in one transaction (one commit).
      issued = await sessions.start(user, ctx, Date.now(), {
        audit: { type: 'login_success' },
        ...(rehash === undefined ? {} : { rehash }),
      });
    } catch (error) {
      // The password, the account's state or the account itself changed since it was read: that change
      // wins (issue 10 items 1–2), and this login fails like any other.
      if (error instanceof InvalidCredentials) {
        metrics.logins.inc({ outcome: 'failure' });
        log.info(
          { event: 'login_failed', ip, identifier_hash: hashIdentifier(input.identifier), reason: 'credentials_changed' },
          'login failed',
        );
        await audit.write(
          'login_failed',
          { userId: user.id, details: { identifier_hash: hashIdentifier(input.identifier), reason: 'credentials_changed' } },
          ctx,
        );
      }
      throw error;
    }
    metrics.logins.inc({ outcome: 'success' });
    return issued;
  }
}
