/**
 * The rotation writer: spends a refresh token and stores its successor as one compare-and-set, by group
 * commit — the rotations that arrive in one turn of the event loop are written in one transaction (each still
 * its own compare-and-set), so one commit serves them all. If the batch fails, each rotation is retried in a
 * transaction of its own, so one bad write fails only itself.
 *
 * @example
 *   const won = await writer.write({ now, parent, sid, hash, iat, exp, ip }); // false: another rotation won
 */
import type { Kysely } from 'kysely';
import { type QueryRunner, prepare } from '../store/prepared.ts';
import type { Database } from '../store/schema.ts';

/** One rotation: spend `parent` of session `sid` and store the successor `hash` (instants in ms). */
export interface RotationWrite {
  readonly now: number;
  readonly parent: string;
  readonly sid: string;
  readonly hash: string;
  readonly iat: number;
  readonly exp: number;
  readonly ip: string | null;
}

/** The statements of a rotation, compiled once: refresh is the hottest write path (see store/prepared.ts). */
function writeStatements(db: Kysely<Database>) {
  return {
    // The compare-and-set: of any number of concurrent rotations, exactly one sees spent_at IS NULL.
    spend: prepare<{ jti_hash: string }, 'now' | 'parent' | 'sid'>((p) =>
      db
        .updateTable('refresh_tokens')
        .set({ spent_at: p('now', 0) })
        .where('jti_hash', '=', p('parent', ''))
        .where('session_id', '=', p('sid', ''))
        .where('spent_at', 'is', null)
        .returning('jti_hash'),
    ),
    insertSuccessor: prepare<never, 'hash' | 'sid' | 'parent' | 'iat' | 'exp'>((p) =>
      db.insertInto('refresh_tokens').values({
        jti_hash: p('hash', ''),
        session_id: p('sid', ''),
        parent_hash: p<string | null>('parent', null),
        issued_at: p('iat', 0),
        expires_at: p('exp', 0),
        spent_at: null,
      }),
    ),
    touchSession: prepare<never, 'now' | 'ip' | 'sid'>((p) =>
      db
        .updateTable('sessions')
        .set({ last_used_at: p('now', 0), ip: p<string | null>('ip', null) })
        .where('id', '=', p('sid', '')),
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
    const apply = async (trx: QueryRunner, w: RotationWrite): Promise<boolean> => {
      const spent = await statements.spend.run(trx, { now: w.now, parent: w.parent, sid: w.sid });
      if (spent.rows.length === 0) return false;
      await statements.insertSuccessor.run(trx, { hash: w.hash, sid: w.sid, parent: w.parent, iat: w.iat, exp: w.exp });
      await statements.touchSession.run(trx, { now: w.now, ip: w.ip, sid: w.sid });
      return true;
    };
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
