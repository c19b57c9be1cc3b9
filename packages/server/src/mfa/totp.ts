/**
 * TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of drift either way) through `otpauth`. The secret
 * is sealed at rest like signing keys. `last_step` holds the time step last accepted and only moves forward
 * by a compare-and-set, so a code — or any older one — is never accepted twice, across instances.
 *
 * @example
 *   const { secret, otpauthUri } = await totp.begin(user);
 *   const codes = await totp.confirm(user.id, '123456'); // 10 recovery codes
 *   await totp.check(user.id, '654321');                  // true once, false when replayed
 */
import type { Kysely } from 'kysely';
import { Secret, TOTP } from 'otpauth';
import type { AuditLog, RequestContext } from '../audit.ts';
import { openSecret, sealSecret } from '../auth/sealing.ts';
import type { Config } from '../config.ts';
import { Conflict, InvalidCode } from '../errors.ts';
import type { User } from '../auth/users.ts';
import type { Database } from '../store/schema.ts';
import type { RecoveryCodes } from './recovery-codes.ts';

export const TOTP_PERIOD_S = 30;
export const TOTP_DIGITS = 6;
/** One step either way: clocks and typing are slow, a wider window only helps guessing. */
export const TOTP_WINDOW = 1;

function totpOf(secretBase32: string, issuer: string, username: string): TOTP {
  return new TOTP({
    issuer,
    label: username,
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_S,
    secret: Secret.fromBase32(secretBase32),
  });
}

export class TotpFactor {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly config: Config,
    private readonly recoveryCodes: RecoveryCodes,
    private readonly audit: AuditLog,
  ) {}

  /** Starts (or restarts) an enrolment: a new secret, pending until confirmed. 409 when TOTP is already on. */
  async begin(user: User, now = Date.now()): Promise<{ secret: string; otpauthUri: string }> {
    const secret = new Secret({ size: 20 }).base32;
    const sealed = sealSecret(secret, this.config.keyEncryptionSecret);
    // Insert, or replace a pending secret; a confirmed one is left alone (the WHERE of the upsert).
    const row = await this.db
      .insertInto('mfa_totp')
      .values({ user_id: user.id, secret: sealed, created_at: now, confirmed_at: null, last_step: null })
      .onConflict((oc) =>
        oc.column('user_id').doUpdateSet({ secret: sealed, created_at: now, last_step: null }).where('mfa_totp.confirmed_at', 'is', null),
      )
      .returning('user_id')
      .executeTakeFirst();
    if (!row) throw new Conflict('TOTP is already enabled');
    return { secret, otpauthUri: totpOf(secret, this.config.issuer, user.username).toString() };
  }

  /**
   * Confirms a pending enrolment with a first code; returns the 10 recovery codes (shown once). Every write is
   * conditioned on the secret the code was checked against: an enrolment restarted meanwhile (a new secret)
   * makes this code wrong, never confirms a secret the person's app has not seen.
   */
  async confirm(userId: number, code: string, ctx: RequestContext = {}, now = Date.now()): Promise<string[]> {
    const row = await this.db.selectFrom('mfa_totp').selectAll().where('user_id', '=', userId).executeTakeFirst();
    if (!row) throw new Conflict('no TOTP enrolment is pending');
    if (row.confirmed_at !== null) throw new Conflict('TOTP is already enabled');
    if (!(await this.#accept(userId, row.secret, code, now, false))) throw new InvalidCode();
    const codes = await this.db.transaction().execute(async (trx) => {
      const confirmed = await trx
        .updateTable('mfa_totp')
        .set({ confirmed_at: now })
        .where('user_id', '=', userId)
        .where('confirmed_at', 'is', null)
        .where('secret', '=', row.secret)
        .returning('user_id')
        .executeTakeFirst();
      if (!confirmed) {
        const current = await trx.selectFrom('mfa_totp').select('confirmed_at').where('user_id', '=', userId).executeTakeFirst();
        throw current?.confirmed_at != null ? new Conflict('TOTP is already enabled') : new InvalidCode();
      }
      return this.recoveryCodes.replace(trx, userId, now);
    });
    await this.audit.write('mfa_enabled', { userId, details: { method: 'totp' } }, ctx, now);
    return codes;
  }

  /** Whether `code` is a current code of the user's confirmed TOTP, accepted now and never again. */
  async check(userId: number, code: string, now = Date.now()): Promise<boolean> {
    const row = await this.db.selectFrom('mfa_totp').select(['secret', 'confirmed_at']).where('user_id', '=', userId).executeTakeFirst();
    if (!row || row.confirmed_at === null) return false;
    return this.#accept(userId, row.secret, code, now, true);
  }

  async #accept(userId: number, sealed: string, code: string, now: number, confirmed: boolean): Promise<boolean> {
    if (!/^\d{6}$/.test(code)) return false;
    const secret = openSecret(sealed, this.config.keyEncryptionSecret, 'TOTP secrets');
    // otpauth compares in constant time and answers the matching step's offset.
    const delta = totpOf(secret, this.config.issuer, '').validate({ token: code, timestamp: now, window: TOTP_WINDOW });
    if (delta === null) return false;
    const step = Math.floor(now / 1000 / TOTP_PERIOD_S) + delta;
    // The compare-and-set: only a step later than the last accepted one moves it.
    const moved = await this.db
      .updateTable('mfa_totp')
      .set({ last_step: step })
      .where('user_id', '=', userId)
      .where('confirmed_at', confirmed ? 'is not' : 'is', null)
      // The secret this code was checked against, still the user's (not replaced by a restarted enrolment).
      .where('secret', '=', sealed)
      .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
      .returning('user_id')
      .executeTakeFirst();
    return moved !== undefined;
  }

  async enabled(userId: number): Promise<boolean> {
    const row = await this.db.selectFrom('mfa_totp').select('confirmed_at').where('user_id', '=', userId).executeTakeFirst();
    return row !== undefined && row.confirmed_at !== null;
  }

  /** Removes TOTP and the recovery codes. */
  async remove(userId: number, ctx: RequestContext = {}, now = Date.now()): Promise<void> {
    const removed = await this.db.transaction().execute(async (trx) => {
      const row = await trx.deleteFrom('mfa_totp').where('user_id', '=', userId).returning('confirmed_at').executeTakeFirst();
      await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
      return row;
    });
    if (removed?.confirmed_at != null) await this.audit.write('mfa_disabled', { userId, details: { method: 'totp' } }, ctx, now);
  }

  /** A new set of recovery codes (the old set dies), after a current TOTP code. */
  /**
   * A new set of recovery codes; the old set dies. `checkCode` proves a current code first (the route passes
   * the second step's limited check, SecondStep.checkCode).
   */
  async newRecoveryCodes(userId: number, checkCode: () => Promise<void>, now = Date.now()): Promise<string[]> {
    if (!(await this.enabled(userId))) throw new Conflict('TOTP is not enabled');
    await checkCode();
    return this.db.transaction().execute((trx) => this.recoveryCodes.replace(trx, userId, now));
  }
}
