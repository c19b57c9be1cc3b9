/**
 * The durable mail outbox (SPEC §10). A message is written in the same transaction as the token it carries;
 * the sender (`sender.ts`) claims due rows by compare-and-set, so several instances on one database never
 * deliver one row twice. Message bodies carry link tokens: they are sealed with LATCHKEY_KEY_ENCRYPTION_SECRET
 * when it is set, and erased once the row is sent or discarded.
 *
 * @example
 *   await db.transaction().execute((trx) => outbox.add(trx, { kind: 'reset-password', to, deliver: true, message }));
 */
import type { Kysely } from 'kysely';
import { openSecret, sealSecret } from '../auth/keys.ts';
import type { Database, MailOutboxTable } from '../store/schema.ts';
import type { Selectable } from 'kysely';
import type { MailKind, MailMessage } from './templates.ts';

export type OutboxRow = Selectable<MailOutboxTable>;

/** `waiting` until delivered (`sent`), dropped unsent (`discarded`: addressed to nobody) or given up (`failed`). */
export type OutboxStatus = 'waiting' | 'sent' | 'discarded' | 'failed';

export interface OutgoingMail {
  readonly kind: MailKind;
  /** The address written on the message; null when there is none (an unknown username). */
  readonly to: string | null;
  /** false: a decoy for an unknown address or a recipient over its limit, discarded by the sender unsent. */
  readonly deliver: boolean;
  readonly message: MailMessage;
}

export class MailOutbox {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly sealKey: string | undefined,
  ) {}

  /** Writes one message; pass the transaction that writes its token, so both commit or neither. */
  async add(trx: Kysely<Database>, mail: OutgoingMail, now = Date.now()): Promise<void> {
    await trx
      .insertInto('mail_outbox')
      .values({
        kind: mail.kind,
        recipient: mail.to,
        deliver: mail.deliver ? 1 : 0,
        message: sealSecret(JSON.stringify(mail.message), this.sealKey),
        status: 'waiting',
        next_attempt_at: now,
        claimed_by: null,
        claimed_until: null,
        created_at: now,
        sent_at: null,
        last_error: null,
      })
      .execute();
  }

  /**
   * Claims up to `limit` due rows for `owner` until `now + leaseMs`. Each claim is a compare-and-set on the
   * row (still waiting, not claimed or its lease over): of instances racing for a row, exactly one updates it.
   * A claim left by a crashed process lapses with its lease.
   */
  async claimDue(owner: string, leaseMs: number, limit: number, now = Date.now()): Promise<OutboxRow[]> {
    const due = await this.db
      .selectFrom('mail_outbox')
      .select('id')
      .where('status', '=', 'waiting')
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .orderBy('id')
      .limit(limit)
      .execute();
    const claimed: OutboxRow[] = [];
    for (const { id } of due) {
      const row = await this.db
        .updateTable('mail_outbox')
        .set({ claimed_by: owner, claimed_until: now + leaseMs })
        .where('id', '=', id)
        .where('status', '=', 'waiting')
        .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
        .returningAll()
        .executeTakeFirst();
      if (row) claimed.push(row);
    }
    return claimed;
  }

  /**
   * Extends this owner's claim on a row for `leaseMs` from now, right before its send: false when the row is
   * no longer this owner's (its lease ran out while earlier rows of the batch were sent, and another instance
   * claimed it) or no longer waiting. A send that follows a true renewal is this instance's alone.
   */
  async renew(row: OutboxRow, owner: string, leaseMs: number, now = Date.now()): Promise<boolean> {
    const renewed = await this.db
      .updateTable('mail_outbox')
      .set({ claimed_until: now + leaseMs })
      .where('id', '=', row.id)
      .where('status', '=', 'waiting')
      .where('claimed_by', '=', owner)
      .returning('id')
      .executeTakeFirst();
    return renewed !== undefined;
  }

  open(row: OutboxRow): MailMessage {
    return JSON.parse(openSecret(row.message ?? '{}', this.sealKey)) as MailMessage;
  }

  /** Ends a claimed row: sent, discarded or given up. The body (with its link) is erased. */
  async finish(
    row: OutboxRow,
    owner: string,
    status: Exclude<OutboxStatus, 'waiting'>,
    error: string | null = null,
    now = Date.now(),
  ): Promise<void> {
    await this.db
      .updateTable('mail_outbox')
      .set({
        status,
        message: null,
        claimed_by: null,
        claimed_until: null,
        attempts: status === 'discarded' ? row.attempts : row.attempts + 1,
        sent_at: status === 'sent' ? now : null,
        last_error: error,
      })
      .where('id', '=', row.id)
      .where('claimed_by', '=', owner)
      .execute();
  }

  /** A failed attempt: the row waits again until `nextAttemptAt`. */
  async retryLater(row: OutboxRow, owner: string, nextAttemptAt: number, error: string): Promise<void> {
    await this.db
      .updateTable('mail_outbox')
      .set({ attempts: row.attempts + 1, next_attempt_at: nextAttemptAt, claimed_by: null, claimed_until: null, last_error: error })
      .where('id', '=', row.id)
      .where('claimed_by', '=', owner)
      .execute();
  }

  async countWaiting(): Promise<number> {
    const row = await this.db
      .selectFrom('mail_outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', 'waiting')
      .where('deliver', '=', 1)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Drops finished rows older than `retentionMs` (their bodies are already gone). */
  async prune(retentionMs: number, now = Date.now()): Promise<void> {
    await this.db
      .deleteFrom('mail_outbox')
      .where('status', '!=', 'waiting')
      .where('created_at', '<', now - retentionMs)
      .execute();
  }
}
