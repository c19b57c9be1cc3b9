/**
 * The audit log: one append-only table and this one function that writes it. Records carry who, what,
 * from where, and the request id — never a password, hash or token.
 *
 * @example
 *   await audit.write('login_failed', { details: { identifier_hash } }, requestContext);
 */
import type { Insertable, Kysely } from 'kysely';
import type { AuditEventRow, AuditEventsTable, Database } from './store/schema.ts';

export type AuditEventType =
  | 'login_success'
  | 'login_failed'
  | 'password_check_failed'
  | 'refresh_token_reuse'
  | 'logout'
  | 'logout_all'
  | 'password_changed'
  | 'user_created'
  | 'user_updated'
  | 'role_changed'
  | 'user_disabled'
  | 'user_enabled'
  | 'user_deleted'
  | 'session_revoked'
  | 'rate_limited'
  | 'key_rotated'
  | 'oidc_sign_in'
  | 'oidc_linked'
  | 'oidc_user_created'
  // Accounts by email (SPEC §10).
  | 'signup'
  | 'email_verified'
  | 'password_reset_requested'
  | 'password_reset'
  | 'email_change_requested'
  | 'email_changed'
  // Second factors and passkeys (SPEC §11).
  | 'mfa_enabled'
  | 'mfa_disabled'
  | 'mfa_failed'
  | 'recovery_code_used'
  | 'passkey_added'
  | 'passkey_removed'
  | 'factors_reset';

/** Where a request came from; every field is optional because the CLI has no request. */
export interface RequestContext {
  readonly ip?: string | null;
  readonly userAgent?: string | null;
  readonly requestId?: string | null;
  /** The user acting, when it is not the subject (an admin, or the CLI's null). */
  readonly actorUserId?: number | null;
}

export interface AuditFields {
  readonly userId?: number | null;
  readonly sessionId?: string | null;
  readonly details?: Readonly<Record<string, string | number | boolean | null>>;
}

export interface AuditFilter {
  readonly userId?: number;
  readonly type?: string;
  readonly since?: number;
  readonly until?: number;
  readonly page?: number;
  readonly pageSize?: number;
}

/** The row of one audit event; for an operation that writes its audit record in its own transaction. */
export function auditRecord(type: AuditEventType, fields: AuditFields, ctx: RequestContext, now: number): Insertable<AuditEventsTable> {
  return {
    at: now,
    type,
    // An explicit null actor is the CLI (no user acted); an absent one means the subject acted.
    actor_user_id: ctx.actorUserId !== undefined ? ctx.actorUserId : (fields.userId ?? null),
    user_id: fields.userId ?? null,
    session_id: fields.sessionId ?? null,
    ip: ctx.ip ?? null,
    user_agent: ctx.userAgent?.slice(0, 512) ?? null,
    request_id: ctx.requestId ?? null,
    details: fields.details === undefined ? null : JSON.stringify(fields.details),
  };
}

export class AuditLog {
  constructor(private readonly db: Kysely<Database>) {}

  async write(type: AuditEventType, fields: AuditFields, ctx: RequestContext = {}, now = Date.now()): Promise<void> {
    await this.db
      .insertInto('audit_events')
      .values(auditRecord(type, fields, ctx, now))
      .execute();
  }

  /**
   * Events matching every given filter, newest first: `userId` is the subject user, `since` inclusive
   * and `until` exclusive (milliseconds).
   */
  async list(filter: AuditFilter = {}): Promise<{ items: AuditEventRow[]; total: number }> {
    const page = Math.max(1, filter.page ?? 1);
    const pageSize = Math.min(200, Math.max(1, filter.pageSize ?? 50));
    let query = this.db.selectFrom('audit_events');
    if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
    if (filter.type !== undefined) query = query.where('type', '=', filter.type);
    if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('at', '<', filter.until);
    const [items, total] = await Promise.all([
      query
        .selectAll()
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(pageSize)
        .offset((page - 1) * pageSize)
        .execute(),
      query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items, total: Number(total.n) };
  }

  /** Deletes events older than the retention period; returns how many went. 0 = keep forever. */
  async prune(retentionMs: number, now = Date.now()): Promise<number> {
    if (retentionMs === 0) return 0;
    const result = await this.db
      .deleteFrom('audit_events')
      .where('at', '<', now - retentionMs)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
