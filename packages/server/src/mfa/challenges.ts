/**
 * Short-lived, single-use secrets of the second step (SPEC §11): `mfa_token`s and WebAuthn challenges.
 * They live in the database, by the SHA-256 of their id, so any instance finishes what another started;
 * every use is a compare-and-set (`UPDATE … WHERE spent_at IS NULL … RETURNING`), so of two concurrent
 * uses exactly one wins, on one instance or several.
 *
 * @example
 *   const token = await challenges.issue('mfa_token', { userId: 7, amr: ['pwd'] });
 *   const row = await challenges.spend('mfa_token', token);
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { InvalidMfaToken } from '../errors.ts';
import type { Database, MfaChallengeRow } from '../store/schema.ts';

export type ChallengeKind = 'mfa_token' | 'passkey_registration' | 'passkey_login';

/** Five minutes, for `mfa_token`s and WebAuthn challenges alike (SPEC §11). */
export const CHALLENGE_TTL_MS = 5 * 60_000;
/** An `mfa_token` dies at its fifth wrong code. */
export const MAX_FAILURES = 5;

export function hashChallengeId(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

export class ChallengeStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Stores a new challenge and returns its id (random, 256 bits, unless `id` is given: a WebAuthn challenge). */
  async issue(
    kind: ChallengeKind,
    fields: { userId: number | null; amr?: readonly string[]; challenge?: string; id?: string },
    now = Date.now(),
  ): Promise<string> {
    const id = fields.id ?? randomBytes(32).toString('base64url');
    await this.db
      .insertInto('mfa_challenges')
      .values({
        id_hash: hashChallengeId(id),
        kind,
        user_id: fields.userId,
        challenge: fields.challenge ?? null,
        amr: fields.amr === undefined ? null : fields.amr.join(' '),
        created_at: now,
        expires_at: now + CHALLENGE_TTL_MS,
        spent_at: null,
      })
      .execute();
    return id;
  }

  /** A live challenge (not spent, not expired, fewer than five failures); {@link InvalidMfaToken} otherwise. */
  async live(kind: ChallengeKind, id: string, now = Date.now()): Promise<MfaChallengeRow> {
    const row = await this.db
      .selectFrom('mfa_challenges')
      .selectAll()
      .where('id_hash', '=', hashChallengeId(id))
      .where('kind', '=', kind)
      .executeTakeFirst();
    if (!row || row.spent_at !== null || row.expires_at <= now || row.failures >= MAX_FAILURES) throw new InvalidMfaToken('not live');
    return row;
  }

  /** Spends a live challenge; exactly one concurrent caller gets the row, the others {@link InvalidMfaToken}. */
  async spend(kind: ChallengeKind, id: string, now = Date.now(), userId?: number): Promise<MfaChallengeRow> {
    let query = this.db
      .updateTable('mfa_challenges')
      .set({ spent_at: now })
      .where('id_hash', '=', hashChallengeId(id))
      .where('kind', '=', kind)
      .where('spent_at', 'is', null)
      .where('expires_at', '>', now)
      .where('failures', '<', MAX_FAILURES);
    if (userId !== undefined) query = query.where('user_id', '=', userId);
    const row = await query.returningAll().executeTakeFirst();
    if (!row) throw new InvalidMfaToken('not live');
    return row;
  }

  /** Counts a wrong code; returns true while the token still lives. */
  async fail(kind: ChallengeKind, id: string): Promise<boolean> {
    const row = await this.db
      .updateTable('mfa_challenges')
      .set((eb) => ({ failures: eb('failures', '+', 1) }))
      .where('id_hash', '=', hashChallengeId(id))
      .where('kind', '=', kind)
      .where('spent_at', 'is', null)
      .returning('failures')
      .executeTakeFirst();
    return row !== undefined && row.failures < MAX_FAILURES;
  }

  /** Attaches a WebAuthn challenge to a live `mfa_token` (passkey as the second factor). */
  async attachChallenge(id: string, challenge: string, now = Date.now()): Promise<void> {
    const row = await this.db
      .updateTable('mfa_challenges')
      .set({ challenge })
      .where('id_hash', '=', hashChallengeId(id))
      .where('kind', '=', 'mfa_token')
      .where('spent_at', 'is', null)
      .where('expires_at', '>', now)
      .where('failures', '<', MAX_FAILURES)
      .returning('id_hash')
      .executeTakeFirst();
    if (!row) throw new InvalidMfaToken('not live');
  }

  /**
   * Takes the WebAuthn challenge off a live `mfa_token` (compare-and-set on its value), so one challenge
   * answers one assertion: a replayed assertion finds no challenge.
   */
  async takeChallenge(id: string, now = Date.now()): Promise<string> {
    const row = await this.live('mfa_token', id, now);
    if (row.challenge === null) throw new InvalidMfaToken('no passkey challenge');
    const taken = await this.db
      .updateTable('mfa_challenges')
      .set({ challenge: null })
      .where('id_hash', '=', row.id_hash)
      .where('challenge', '=', row.challenge)
      .where('spent_at', 'is', null)
      .returning('id_hash')
      .executeTakeFirst();
    if (!taken) throw new InvalidMfaToken('challenge already used');
    return row.challenge;
  }

  async prune(now = Date.now()): Promise<void> {
    await this.db.deleteFrom('mfa_challenges').where('expires_at', '<', now).execute();
  }
}
