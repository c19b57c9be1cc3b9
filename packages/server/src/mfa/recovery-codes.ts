/**
 * Recovery codes (SPEC §11): ten single-use codes, shown once, stored as SHA-256 hashes. Each code has 60
 * random bits, so a fast hash is enough; guessing is bounded by the `mfa_token`'s five tries and the login
 * limits. Spending is a compare-and-set on `used_at`, so a code works once even under concurrency.
 */
import { createHash, randomInt } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';

export const RECOVERY_CODE_COUNT = 10;
// Crockford-like: no 0/o, 1/l/i, so a code read off paper is typed right.
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/** `xxxx-xxxx-xxxx`, 12 characters of a 31-letter alphabet (about 59 bits). */
export function newRecoveryCode(): string {
  let code = '';
  for (let i = 0; i < 12; i++) code += ALPHABET[randomInt(ALPHABET.length)];
  return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`;
}

/** Case, spaces and dashes do not matter when a code is typed back. */
export function hashRecoveryCode(code: string): string {
  return createHash('sha256').update(code.toLowerCase().replace(/[\s-]/g, '')).digest('base64url');
}

export class RecoveryCodes {
  constructor(private readonly db: Kysely<Database>) {}

  /** Replaces the user's codes with a new set and returns it; the old set dies in the same transaction. */
  async replace(trx: Transaction<Database>, userId: number, now = Date.now()): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
    await trx
      .insertInto('mfa_recovery_codes')
      .values(codes.map((code) => ({ user_id: userId, code_hash: hashRecoveryCode(code), created_at: now, used_at: null })))
      .execute();
    return codes;
  }

  /** Spends one code; false when it is unknown or already used. */
  async spend(userId: number, code: string, now = Date.now()): Promise<boolean> {
    const row = await this.db
      .updateTable('mfa_recovery_codes')
      .set({ used_at: now })
      .where('user_id', '=', userId)
      .where('code_hash', '=', hashRecoveryCode(code))
      .where('used_at', 'is', null)
      .returning('user_id')
      .executeTakeFirst();
    return row !== undefined;
  }

  async remaining(userId: number): Promise<number> {
    const row = await this.db
      .selectFrom('mfa_recovery_codes')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
