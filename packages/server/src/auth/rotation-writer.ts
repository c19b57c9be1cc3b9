/**
 * The rotation writer (SQLite): spends a refresh token with one compare-and-set on its session row, by group
 * commit — the rotations that arrive in one turn of the event loop are written in one transaction (each still
 * its own compare-and-set), so one commit serves them all. If the batch fails, each rotation is retried in a
 * transaction of its own, so one bad write fails only itself.
 *
 * @example
 *   const won = await writer.write({ sid, parent, next, now, ip }); // false: another rotation won
 */
import type { Kysely } from 'kysely';
import { type QueryRunner, prepare } from '../store/prepared.ts';
import type { Database } from '../store/schema.ts';

/** One rotation: replace the unspent token `parent` of session `sid` with `next` (SHA-256 hashes; `now` in ms). */
export interface RotationWrite {
  readonly sid: string;
  readonly parent: string;
  readonly next: string;
  readonly now: number;
  /** The client's address, when known: recorded as the session's last one. */
  readonly ip: string | null;
}

/** The statement of a rotation, compiled once: refresh is the hottest write path (see store/prepared.ts). */
function writeStatements(db: Kysely<Database>) {
  return {
    // The compare-and-set: of any number of concurrent rotations, exactly one sees refresh_hash = parent. The
    // row is rewritten in place (same sizes), so a rotation adds no bytes; last_used_at and ip ride along.
    rotate: prepare<{ id: string }, 'sid' | 'parent' | 'next' | 'now' | 'ip'>((p) =>
      db
        .updateTable('sessions')
        .set((eb) => ({
          previous_hash: eb.ref('refresh_hash'),
          refresh_hash: p('next', ''),
          rotated_at: p('now', 0),
          last_used_at: p('now', 0),
          ip: eb.fn.coalesce(eb.val(p<string | null>('ip', null)), eb.ref('ip')),
        }))
        .where('id', '=', p('sid', ''))
        .where('refresh_hash', '=', p('parent', ''))
        .where('revoked_at', 'is', null)
        .returning('id'),
    ),
  };
}

export class RotationWriter {
  readonly #statements: ReturnType<typeof writeStatements>;
  /** Rotations waiting for the next group commit. */
  #queue: { write: RotationWrite; resolve: (won: boolean) => void; reject: (error: unknown) => void }[] = [];

  constructor(private readonly db: Kysely<Database>) {
    this.#statements = writeStatements(db);
  }

  /** True when this rotation spent the token; false when another had spent it already. */
  write(write: RotationWrite): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.#queue.push({ write, resolve, reject }) === 1) setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    const statements = this.#statements;
    const apply = async (trx: QueryRunner, w: RotationWrite): Promise<boolean> =>
      (await statements.rotate.run(trx, { sid: w.sid, parent: w.parent, next: w.next, now: w.now, ip: w.ip })).rows.length === 1;
    try {
      const results = await this.db.transaction().execute(async (trx) => {
        const out: boolean[] = [];
        for (const item of batch) out.push(await apply(trx, item.write));
        return out;
      });
      batch.forEach((item, i) => item.resolve(results[i]!));
    } catch {
      for (const item of batch) {
        try {
          item.resolve(await this.db.transaction().execute((trx) => apply(trx, item.write)));
        } catch (error) {
          item.reject(error);
        }
      }
    }
  }
}
