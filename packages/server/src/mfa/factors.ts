/**
 * The second-factor domain assembled once by `openCore`: TOTP, recovery codes, passkeys, the challenge store,
 * the second step of sign-in, and the current-password check that guards factor changes.
 */
import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit.ts';
import type { PasswordCheck } from '../auth/password-check.ts';
import type { PasswordHasher } from '../auth/passwords.ts';
import type { SessionService } from '../auth/sessions.ts';
import type { UserStore } from '../auth/users.ts';
import type { Config } from '../config.ts';
import type { AbuseLimiter } from '../limits/abuse.ts';
import type { Metrics } from '../metrics.ts';
import type { Database } from '../store/schema.ts';
import { ChallengeStore } from './challenges.ts';
import { type CurrentPasswordCheck, currentPasswordCheck } from './current-password.ts';
import { PasskeyService } from './passkeys.ts';
import { RecoveryCodes } from './recovery-codes.ts';
import { SecondStep } from './sign-in.ts';
import { TotpFactor } from './totp.ts';

export interface SecondFactors {
  readonly totp: TotpFactor;
  readonly recoveryCodes: RecoveryCodes;
  readonly passkeys: PasskeyService;
  readonly challenges: ChallengeStore;
  readonly secondStep: SecondStep;
  readonly checkCurrentPassword: CurrentPasswordCheck;
}

export function createSecondFactors(
  db: Kysely<Database>,
  deps: {
    config: Config;
    users: UserStore;
    hasher: PasswordHasher;
    sessions: SessionService;
    limiter: AbuseLimiter;
    passwordCheck: PasswordCheck;
    audit: AuditLog;
    metrics: Metrics;
  },
): SecondFactors {
  const recoveryCodes = new RecoveryCodes(db);
  const challenges = new ChallengeStore(db);
  const totp = new TotpFactor(db, deps.config, recoveryCodes, deps.audit);
  const passkeys = new PasskeyService(db, deps.config, challenges, deps.audit);
  const secondStep = new SecondStep({ ...deps, totp, recoveryCodes, passkeys, challenges });
  return {
    totp,
    recoveryCodes,
    passkeys,
    challenges,
    secondStep,
    checkCurrentPassword: currentPasswordCheck(deps.users, deps.passwordCheck),
  };
}
