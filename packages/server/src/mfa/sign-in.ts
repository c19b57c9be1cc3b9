/**
 * The second step of signing in (SPEC §11). After a right password (or a Google/OpenID sign-in) a user with
 * a confirmed factor gets an `mfa_token` instead of tokens; `verify` finishes the sign-in with a TOTP code,
 * a recovery code or a passkey assertion. A user the policy (`LATCHKEY_MFA`) obliges to have a factor and
 * who has none gets an enrolment-only token. Passwordless passkey sign-in lives here too: it is a sign-in of
 * its own (possession + user verification) and needs no second step.
 *
 * @example
 *   const pending = await secondStep.afterPrimary(user, 'pwd', ctx);   // undefined: no second step
 *   const issued = await secondStep.verify({ mfaToken, code: '123456' }, ctx);
 */
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { AuditLog, RequestContext } from '../audit.ts';
import type { IssuedTokens, SessionService } from '../auth/sessions.ts';
import type { UserStore } from '../auth/users.ts';
import type { Config } from '../config.ts';
import { InvalidCode, InvalidMfaToken, InvalidPasskey, LatchkeyError, RateLimited } from '../errors.ts';
import type { AbuseLimiter } from '../limits/abuse.ts';
import type { Metrics } from '../metrics.ts';
import type { User } from '../auth/users.ts';
import type { ChallengeStore } from './challenges.ts';
import type { PasskeyService } from './passkeys.ts';
import type { RecoveryCodes } from './recovery-codes.ts';
import type { TotpFactor } from './totp.ts';

export type MfaMethod = 'totp' | 'recovery_code' | 'passkey';
/** How the first step was done: a password, or an identity provider (RFC 8176 `pwd`, `fed`). */
export type PrimaryMethod = 'pwd' | 'fed';

/** A sign-in that is not finished: a second factor is due, or one must be enrolled first. */
export type PendingSignIn =
  | { readonly kind: 'mfa_required'; readonly mfaToken: string; readonly methods: readonly MfaMethod[] }
  | { readonly kind: 'enrollment_required'; readonly issued: IssuedTokens };

export interface SecondFactorInput {
  readonly mfaToken: string;
  readonly code?: string;
  readonly recoveryCode?: string;
  readonly credential?: AuthenticationResponseJSON;
}

export interface SecondStepDeps {
  readonly config: Config;
  readonly users: UserStore;
  readonly sessions: SessionService;
  readonly limiter: AbuseLimiter;
  readonly audit: AuditLog;
  readonly metrics: Metrics;
  readonly totp: TotpFactor;
  readonly recoveryCodes: RecoveryCodes;
  readonly passkeys: PasskeyService;
  readonly challenges: ChallengeStore;
}

/** The key the login limits count second steps under: the user, never a guessable identifier. */
function limitKey(userId: number): string {
  return `mfa#${userId}`;
}

export class SecondStep {
  constructor(private readonly deps: SecondStepDeps) {}

  /** The methods the user can finish a sign-in with; empty when the user has no confirmed factor. */
  async methodsOf(userId: number): Promise<MfaMethod[]> {
    const methods: MfaMethod[] = [];
    if (await this.deps.totp.enabled(userId)) methods.push('totp', 'recovery_code');
    if ((await this.deps.passkeys.count(userId)) > 0) methods.push('passkey');
    return methods;
  }

  /** `{totp, passkeys}` for the admin user view. */
  async status(userId: number): Promise<{ totp: boolean; passkeys: number }> {
    return { totp: await this.deps.totp.enabled(userId), passkeys: await this.deps.passkeys.count(userId) };
  }

  #mustHaveFactor(user: User): boolean {
    const policy = this.deps.config.mfaPolicy;
    return policy === 'all' || (policy === 'admins' && user.role === 'ADMIN');
  }

  /** Called once the first step succeeded; undefined when the sign-in completes as before. */
  async afterPrimary(user: User, primary: PrimaryMethod, ctx: RequestContext, now = Date.now()): Promise<PendingSignIn | undefined> {
    const methods = await this.methodsOf(user.id);
    if (methods.length > 0) {
      const mfaToken = await this.deps.challenges.issue('mfa_token', { userId: user.id, amr: [primary] }, now);
      return { kind: 'mfa_required', mfaToken, methods };
    }
    if (this.#mustHaveFactor(user)) {
      const issued = await this.deps.sessions.start(user, ctx, now, { proof: { amr: [primary], scope: 'mfa_enrollment' } });
      await this.deps.audit.write(
        'login_success',
        { userId: user.id, sessionId: issued.sessionId, details: { scope: 'mfa_enrollment' } },
        ctx,
        now,
      );
      return { kind: 'enrollment_required', issued };
    }
    return undefined;
  }

  async #limited<T>(ip: string, key: string, ctx: RequestContext, attempt: () => Promise<T>): Promise<T> {
    const { limiter, metrics, audit } = this.deps;
    try {
      await limiter.consumeAttempt(ip, key);
    } catch (error) {
      if (error instanceof RateLimited) {
        metrics.rateLimited.inc({ limit: error.limit });
        // One audit row per block window, as for login (issue 10 item 6).
        if (await limiter.shouldAudit(error.limit, key)) await audit.write('rate_limited', { details: { limit: error.limit } }, ctx);
      }
      throw error;
    }
    return attempt();
  }

  /**
   * A current code of the signed-in user's TOTP, for the changes that take one instead of the password
   * (turning TOTP off, new recovery codes): limited like the second step of a sign-in (SPEC §6, §11), under
   * the same budgets, and audited as `mfa_failed` when wrong, so a stolen access token cannot try codes
   * until one fits. Throws {@link InvalidCode} for a wrong code, {@link RateLimited} past a budget.
   */
  async checkCode(userId: number, code: string, ctx: RequestContext, now = Date.now()): Promise<void> {
    const { limiter, audit } = this.deps;
    const ip = ctx.ip ?? 'unknown';
    await this.#limited(ip, limitKey(userId), ctx, async () => {
      if (await this.deps.totp.check(userId, code, now)) {
        await limiter.attemptSucceeded(ip, limitKey(userId));
        return;
      }
      await limiter.attemptFailed(ip, limitKey(userId));
      await audit.write('mfa_failed', { userId, details: { method: 'totp' } }, ctx, now);
      throw new InvalidCode();
    });
  }

  /** Finishes a sign-in with a second factor; the `mfa_token` is spent by success and dies at five failures. */
  async verify(input: SecondFactorInput, ctx: RequestContext, now = Date.now()): Promise<IssuedTokens> {
    const { challenges, users, limiter, audit, metrics, sessions } = this.deps;
    const row = await challenges.live('mfa_token', input.mfaToken, now);
    const user = row.user_id === null ? undefined : await users.findById(row.user_id);
    if (!user || user.disabled) throw new InvalidMfaToken('user gone');
    const ip = ctx.ip ?? 'unknown';
    return this.#limited(ip, limitKey(user.id), ctx, async () => {
      let method: 'otp' | 'hwk';
      let ok: boolean;
      let failure: LatchkeyError = new InvalidCode();
      if (input.credential !== undefined) {
        method = 'hwk';
        const challenge = await challenges.takeChallenge(input.mfaToken, now);
        try {
          await this.deps.passkeys.verifyAssertion(input.credential, challenge, { userId: user.id, requireUserVerification: false }, now);
          ok = true;
        } catch (error) {
          if (!(error instanceof InvalidPasskey)) throw error;
          failure = error;
          ok = false;
        }
      } else if (input.recoveryCode !== undefined) {
        method = 'otp';
        ok = await this.deps.recoveryCodes.spend(user.id, input.recoveryCode, now);
        if (ok)
          await audit.write(
            'recovery_code_used',
            { userId: user.id, details: { remaining: await this.deps.recoveryCodes.remaining(user.id) } },
            ctx,
            now,
          );
      } else {
        method = 'otp';
        ok = await this.deps.totp.check(user.id, input.code ?? '', now);
      }
      if (!ok) {
        await challenges.fail('mfa_token', input.mfaToken);
        await limiter.attemptFailed(ip, limitKey(user.id));
        metrics.logins.inc({ outcome: 'failure' });
        await audit.write(
          'mfa_failed',
          {
            userId: user.id,
            details: { method: input.credential !== undefined ? 'passkey' : input.recoveryCode !== undefined ? 'recovery_code' : 'totp' },
          },
          ctx,
          now,
        );
        throw failure;
      }
      const spent = await challenges.spend('mfa_token', input.mfaToken, now);
      await limiter.attemptSucceeded(ip, limitKey(user.id));
      const amr = [...(spent.amr ?? 'pwd').split(' '), method];
      const issued = await sessions.start(user, ctx, now, { proof: { amr } });
      metrics.logins.inc({ outcome: 'success' });
      await audit.write('login_success', { userId: user.id, sessionId: issued.sessionId, details: { amr: amr.join(' ') } }, ctx, now);
      return issued;
    });
  }

  /** Passwordless sign-in with a discoverable (or named user's) passkey; `amr` is `["hwk","user"]`. */
  async passkeyLogin(
    challengeId: string,
    credential: AuthenticationResponseJSON,
    ctx: RequestContext,
    now = Date.now(),
  ): Promise<IssuedTokens> {
    const { challenges, users, limiter, audit, metrics, sessions } = this.deps;
    const ip = ctx.ip ?? 'unknown';
    const key = `passkey#${typeof credential?.id === 'string' ? credential.id.slice(0, 256) : ''}`;
    return this.#limited(ip, key, ctx, async () => {
      let userId: number;
      try {
        // Spent before the verification: a challenge answers one assertion, whatever its outcome.
        const row = await challenges.spend('passkey_login', challengeId, now).catch(() => {
          throw new InvalidPasskey('unknown, spent or expired challenge');
        });
        userId = await this.deps.passkeys.verifyAssertion(credential, row.challenge ?? '', { requireUserVerification: true }, now);
      } catch (error) {
        if (error instanceof InvalidPasskey) {
          await limiter.attemptFailed(ip, key);
          metrics.logins.inc({ outcome: 'failure' });
          await audit.write('login_failed', { details: { method: 'passkey', reason: error.reason.slice(0, 200) } }, ctx, now);
        }
        throw error;
      }
      const user = await users.findById(userId);
      if (!user || user.disabled) throw new InvalidPasskey('user disabled');
      await limiter.attemptSucceeded(ip, key);
      const issued = await sessions.start(user, ctx, now, { proof: { amr: ['hwk', 'user'] } });
      metrics.logins.inc({ outcome: 'success' });
      await audit.write('login_success', { userId: user.id, sessionId: issued.sessionId, details: { amr: 'hwk user' } }, ctx, now);
      return issued;
    });
  }

  /** Admin reset: TOTP, recovery codes and passkeys removed, every session of the user revoked. */
  async resetFactors(userId: number, ctx: RequestContext, now = Date.now()): Promise<void> {
    await this.deps.users.getById(userId);
    // One credential change (auth/sessions.ts): the factors go and every session ends in the same transaction,
    // so a sign-in finishing with a removed factor meanwhile either committed first (and is revoked) or fails.
    const { totp, passkeys } = await this.deps.sessions.revokeAllForCredentialChange(
      userId,
      'admin',
      async (trx) => {
        const totpRow = await trx.deleteFrom('mfa_totp').where('user_id', '=', userId).returning('confirmed_at').executeTakeFirst();
        await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
        const removed = await trx.deleteFrom('passkeys').where('user_id', '=', userId).returning('id').execute();
        return { totp: totpRow?.confirmed_at != null, passkeys: removed.length };
      },
      { now },
    );
    if (totp) await this.deps.audit.write('mfa_disabled', { userId, details: { method: 'totp' } }, ctx, now);
    await this.deps.audit.write('factors_reset', { userId, details: { passkeys } }, ctx, now);
  }
}
