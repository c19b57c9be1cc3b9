/**
 * Sessions and refresh-token rotation (SPEC §4).
 *
 * A session is created at login. Its refresh state lives on its own row: `refresh_hash`, the SHA-256 of
 * the `jti` of its one unspent refresh token, `previous_hash` (the token its last rotation spent) and
 * `rotated_at`. Rotation is one compare-and-set that rewrites the row in place
 * (`UPDATE sessions … WHERE refresh_hash = <parent> AND revoked_at IS NULL`), so concurrent refreshes — in
 * one process or across instances — produce exactly one successor, and a rotation stores no new row. The
 * successor's `jti` is derived from the parent's (HMAC) and its `iat`/`exp` from `rotated_at`, so a second
 * presentation within the grace gets the very same successor back without any secret being stored. Any
 * other validly signed refresh token of the session is one it spent before: theft, and the whole session
 * is revoked (RFC 9700 §4.14.2).
 *
 * @example
 *   const issued = await sessions.start(user, ctx);
 *   const next = await sessions.rotate(issued.refreshToken, ctx);
 */
import { createHmac, hash, randomBytes } from 'node:crypto';
import type { Insertable, Kysely } from 'kysely';
import { type AuditEventType, type AuditFields, type AuditLog, type RequestContext, auditRecord } from '../audit.ts';
import type { Config, Role } from '../config.ts';
import {
  Conflict,
  Forbidden,
  InvalidAccessToken,
  InvalidCredentials,
  InvalidRefreshToken,
  NotFound,
  RefreshTokenReused,
} from '../errors.ts';
import type { Engine } from '../store/engine.ts';
import { prepare } from '../store/prepared.ts';
import { RotationWriter } from './rotation-writer.ts';
import type { AuditEventsTable, Database, SessionRow, SessionsTable, UserRow } from '../store/schema.ts';
import type { User } from './users.ts';
import type { Revocation, RevocationList } from './revocations.ts';
import { CLOCK_SKEW_MS, revocationExpiry } from '../clock.ts';
import { type SignInClaims, type TokenClaims, type TokenService } from './tokens.ts';

/** How the user signed in (SPEC §11), stored on the session so that refresh keeps `amr` and `auth_time`. */
export interface SignInProof {
  /** RFC 8176 values: `pwd`, `otp`, `hwk`, `user`, `fed`. */
  readonly amr: readonly string[];
  /** When the sign-in happened (ms); the session's start when not given. */
  readonly authTime?: number;
  /** `mfa_enrollment`: tokens good only for enrolling a second factor. */
  readonly scope?: 'mfa_enrollment';
}

function signInClaims(session: Pick<SessionRow, 'amr' | 'auth_time' | 'scope' | 'created_at'>): SignInClaims {
  return {
    ...(session.amr === null ? {} : { amr: session.amr.split(' ').filter((m) => m !== '') }),
    auth_time: Math.floor((session.auth_time ?? session.created_at) / 1000),
    ...(session.scope === null ? {} : { scope: session.scope }),
  };
}

/** The user fields that tokens carry. */
export type TokenUser = Pick<UserRow, 'id' | 'username' | 'role'>;

export interface IssuedTokens {
  readonly accessToken: string;
  /** The access token's `exp`, in seconds. */
  readonly expiresAt: number;
  readonly refreshToken: string;
  /** The refresh token's `exp`, in seconds. */
  readonly refreshExpiresAt: number;
  readonly sessionId: string;
  readonly user: TokenUser;
}

export interface SessionInfo {
  readonly id: string;
  readonly createdAt: number;
  readonly lastUsedAt: number;
  readonly expiresAt: number | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
}

export type RevokeReason =
  'logout' | 'logout_all' | 'refresh_token_reuse' | 'password_changed' | 'user_disabled' | 'user_deleted' | 'session_revoked' | 'admin';

/** 128 random bits, base64url: session ids and jtis. */
export function randomId(): string {
  return randomBytes(16).toString('base64url');
}

export function hashJti(jti: string): string {
  return hash('sha256', jti, 'base64url');
}

/** The jti of the token that replaces `jti`; only a holder of the parent token can compute it. */
export function successorJti(jti: string): string {
  return createHmac('sha256', jti).update('latchkey/successor').digest().subarray(0, 16).toString('base64url');
}

function subjectOf(user: TokenUser): { id: number; username: string; role: Role } {
  return { id: user.id, username: user.username, role: user.role as Role };
}

/** What deciding a rotation needs: the session's rules and refresh state, and the user fields tokens carry. */
interface RotationRow {
  readonly id: number;
  readonly username: string;
  readonly role: string;
  readonly disabled: number;
  readonly credential_version: number;
  readonly s_credential_version: number;
  readonly created_at: number;
  readonly expires_at: number | null;
  readonly revoked_at: number | null;
  readonly amr: string | null;
  readonly auth_time: number | null;
  readonly scope: string | null;
  readonly refresh_hash: string | null;
  readonly previous_hash: string | null;
  readonly rotated_at: number | null;
}

/** What the one-statement rotation on PostgreSQL returns: enough to sign the successor. */
type RotatedRow = Pick<RotationRow, 'username' | 'role' | 'created_at' | 'expires_at' | 'amr' | 'auth_time' | 'scope'>;

/** The statements of a rotation, compiled once: refresh is the hottest path (see store/prepared.ts). */
function rotationStatements(db: Kysely<Database>) {
  return {
    read: prepare<RotationRow, 'sid'>((p) =>
      db
        .selectFrom('sessions')
        .innerJoin('users', 'users.id', 'sessions.user_id')
        .select([
          'users.id',
          'users.username',
          'users.role',
          'users.disabled',
          'users.credential_version',
          'sessions.credential_version as s_credential_version',
          'sessions.created_at',
          'sessions.expires_at',
          'sessions.revoked_at',
          'sessions.amr',
          'sessions.auth_time',
          'sessions.scope',
          'sessions.refresh_hash',
          'sessions.previous_hash',
          'sessions.rotated_at',
        ])
        .where('sessions.id', '=', p('sid', '')),
    ),
    /**
     * PostgreSQL: the whole happy path in one statement (one round trip), checking the session and its user
     * and spending the token together; the user's row is only read, so a concurrent credential change (which
     * revokes the session in its own transaction) is seen by the re-check of `revoked_at` after the wait.
     * SQLite cannot return columns of a FROM table, so there the read comes first (in-process, no round trip).
     */
    rotateJoined: prepare<RotatedRow, 'sid' | 'uid' | 'parent' | 'next' | 'now' | 'ip' | 'minEnd'>((p) =>
      db
        .updateTable('sessions as s')
        .from('users as u')
        .set((eb) => ({
          previous_hash: eb.ref('s.refresh_hash'),
          refresh_hash: p('next', ''),
          rotated_at: p('now', 0),
          last_used_at: p('now', 0),
          ip: eb.fn.coalesce(eb.val(p<string | null>('ip', null)), eb.ref('s.ip')),
        }))
        .where('s.id', '=', p('sid', ''))
        .where('s.refresh_hash', '=', p('parent', ''))
        .where('s.revoked_at', 'is', null)
        .where('s.scope', 'is', null)
        .where((eb) => eb.or([eb('s.expires_at', 'is', null), eb('s.expires_at', '>=', p('minEnd', 0))]))
        .whereRef('u.id', '=', 's.user_id')
        .where('u.id', '=', p('uid', 0))
        .where('u.disabled', '=', 0)
        .whereRef('u.credential_version', '=', 's.credential_version')
        .returning(['u.username', 'u.role', 's.created_at', 's.expires_at', 's.amr', 's.auth_time', 's.scope']),
    ),
  };
}

/** The writes of a login, compiled once: they run in one transaction on every sign-in. */
function loginStatements(db: Kysely<Database>) {
  const claimUser = (rehash: boolean) =>
    prepare<TokenUser & { credential_version: number }, 'uid' | 'version' | 'now' | 'hash'>((p) =>
      db
        .updateTable('users')
        .set(
          rehash ? { last_login_at: p('now', 0), password_hash: p('hash', ''), updated_at: p('now', 0) } : { last_login_at: p('now', 0) },
        )
        .where('id', '=', p('uid', 0))
        .where('credential_version', '=', p('version', 0))
        .where('disabled', '=', 0)
        .returning(['id', 'username', 'role', 'credential_version']),
    );
  return {
    claimUser: claimUser(false),
    claimUserRehash: claimUser(true),
    insertSession: prepare<never, keyof NewSession>((p) =>
      db.insertInto('sessions').values({
        id: p('id', ''),
        user_id: p('user_id', 0),
        created_at: p('created_at', 0),
        expires_at: p<number | null>('expires_at', null),
        last_used_at: p('last_used_at', 0),
        revoked_at: p<number | null>('revoked_at', null),
        revoke_reason: p<string | null>('revoke_reason', null),
        ip: p<string | null>('ip', null),
        user_agent: p<string | null>('user_agent', null),
        credential_version: p('credential_version', 0),
        amr: p<string | null>('amr', null),
        auth_time: p<number | null>('auth_time', null),
        scope: p<string | null>('scope', null),
        refresh_hash: p<string | null>('refresh_hash', null),
        previous_hash: p<string | null>('previous_hash', null),
        rotated_at: p<number | null>('rotated_at', null),
      }),
    ),
    insertAudit: prepare<never, keyof NewAuditEvent>((p) =>
      db.insertInto('audit_events').values({
        at: p('at', 0),
        type: p('type', ''),
        actor_user_id: p<number | null>('actor_user_id', null),
        user_id: p<number | null>('user_id', null),
        session_id: p<string | null>('session_id', null),
        ip: p<string | null>('ip', null),
        user_agent: p<string | null>('user_agent', null),
        request_id: p<string | null>('request_id', null),
        details: p<string | null>('details', null),
      }),
    ),
  };
}

type NewSession = Required<Omit<Insertable<SessionsTable>, 'credential_version'>> & { credential_version: number };
type NewAuditEvent = Required<Omit<Insertable<AuditEventsTable>, 'id'>>;

export class SessionService {
  readonly #rotation: ReturnType<typeof rotationStatements>;
  readonly #login: ReturnType<typeof loginStatements>;
  /** Rotations on SQLite are written by group commit (auth/rotation-writer.ts). */
  readonly #writer: RotationWriter;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly config: Config,
    private readonly tokens: TokenService,
    private readonly revocations: RevocationList,
    private readonly audit: AuditLog,
    private readonly engine: Engine = 'sqlite',
  ) {
    this.#rotation = rotationStatements(db);
    this.#login = loginStatements(db);
    this.#writer = new RotationWriter(db);
  }

  #issue(
    user: TokenUser,
    sid: string,
    refresh: { jti: string; iat: number; exp: number },
    now: number,
    signIn: SignInClaims,
  ): IssuedTokens {
    const subject = subjectOf(user);
    const access = this.tokens.issueAccess(subject, sid, randomId(), now, signIn);
    return {
      accessToken: access.token,
      expiresAt: access.exp,
      refreshToken: this.tokens.issueRefresh(subject, sid, refresh.jti, refresh.iat, refresh.exp),
      refreshExpiresAt: refresh.exp,
      sessionId: sid,
      user,
    };
  }

  /** The refresh token's `exp` (seconds) for one issued at `at`: the idle limit, capped by the session's end. */
  #refreshExp(at: number, sessionEnd: number | null): number {
    const end = sessionEnd === null ? at + this.config.refreshTtlMs : Math.min(at + this.config.refreshTtlMs, sessionEnd);
    return Math.floor(end / 1000);
  }

  /**
   * Opens a session for `user` (a login) and issues its first token pair. `user` is the row the caller
   * read before checking the password: the session is created only if that user still exists, is not
   * disabled and has the same `credential_version`. The check is an UPDATE of the user row (it also
   * records the login, and stores `rehash` when given), so it locks the row until the session is in:
   * a concurrent {@link revokeAllForCredentialChange} either runs first (and the login gets
   * {@link InvalidCredentials}) or waits and then revokes the new session with the others. A login that
   * raced a deletion is a plain 401 for the same reason (issue 10 items 1–2). `audit` is the sign-in's
   * audit event, written in the same transaction (one commit per login): the login time, the session and
   * its record stand or fall together.
   */
  async start(
    user: User,
    ctx: RequestContext = {},
    now = Date.now(),
    options: { rehash?: string; proof?: SignInProof; audit?: { type: AuditEventType; details?: AuditFields['details'] } } = {},
  ): Promise<IssuedTokens> {
    const proof = options.proof ?? { amr: ['pwd'] };
    const sid = randomId();
    const jti = randomId();
    const sessionEnd = this.config.sessionMaxAgeMs === 0 ? null : now + this.config.sessionMaxAgeMs;
    const iat = Math.floor(now / 1000);
    const exp = this.#refreshExp(now, sessionEnd);
    const statements = this.#login;
    const current = await this.db.transaction().execute(async (trx) => {
      const claim = options.rehash === undefined ? statements.claimUser : statements.claimUserRehash;
      const live = (await claim.run(trx, { uid: user.id, version: user.credentialVersion, now, hash: options.rehash ?? null })).rows[0];
      if (live === undefined) return undefined;
      await statements.insertSession.run(trx, {
        id: sid,
        user_id: user.id,
        created_at: now,
        expires_at: sessionEnd,
        last_used_at: now,
        revoked_at: null,
        revoke_reason: null,
        ip: ctx.ip ?? null,
        user_agent: ctx.userAgent?.slice(0, 512) ?? null,
        credential_version: live.credential_version,
        amr: proof.amr.join(' '),
        auth_time: proof.authTime ?? now,
        scope: proof.scope ?? null,
        refresh_hash: hashJti(jti),
        previous_hash: null,
        rotated_at: null,
      });
      if (options.audit !== undefined) {
        const { type, details } = options.audit;
        const record = auditRecord(type, { userId: user.id, sessionId: sid, ...(details === undefined ? {} : { details }) }, ctx, now);
        await statements.insertAudit.run(trx, {
          at: record.at,
          type: record.type,
          actor_user_id: record.actor_user_id ?? null,
          user_id: record.user_id ?? null,
          session_id: record.session_id ?? null,
          ip: record.ip ?? null,
          user_agent: record.user_agent ?? null,
          request_id: record.request_id ?? null,
          details: record.details ?? null,
        });
      }
      return live;
    });
    if (current === undefined) throw new InvalidCredentials();
    return this.#issue(
      current,
      sid,
      { jti, iat, exp },
      now,
      signInClaims({ amr: proof.amr.join(' '), auth_time: proof.authTime ?? now, scope: proof.scope ?? null, created_at: now }),
    );
  }

  /** The session of `sid` with its user, refused unless both may still be used. */
  async #usable(sid: string, userId: number, now: number): Promise<RotationRow> {
    const row = (await this.#rotation.read.run(this.db, { sid })).rows[0];
    if (!row) throw new InvalidRefreshToken('unknown session');
    if (row.revoked_at !== null) throw new InvalidRefreshToken('session revoked');
    if (row.expires_at !== null && now >= row.expires_at) throw new InvalidRefreshToken('session ended');
    if (row.id !== userId) throw new InvalidRefreshToken('session of another user');
    if (row.disabled) throw new InvalidRefreshToken('user disabled');
    // Redundant with the revocation that every credential change makes in the same transaction; kept so
    // that a session can never outlive the credentials it was opened with, whatever wrote it.
    if (row.credential_version !== row.s_credential_version) throw new InvalidRefreshToken('credentials changed');
    // An enrolment-only session never hands out a refresh token; refuse one all the same.
    if (row.scope !== null) throw new InvalidRefreshToken('enrolment-only session');
    return row;
  }

  /**
   * Spends `refreshToken` and issues its successor. Within the reuse grace a spent token gets the same
   * successor again; after it, the session is revoked and {@link RefreshTokenReused} is thrown.
   * The user is re-read, so role changes and disabled accounts take effect here.
   */
  async rotate(refreshToken: string, ctx: RequestContext = {}, now = Date.now()): Promise<IssuedTokens> {
    const claims = this.tokens.verifyRefresh(refreshToken);
    const parent = hashJti(claims.jti);
    const nextJti = successorJti(claims.jti);
    const next = hashJti(nextJti);
    const iat = Math.floor(now / 1000);
    const ip = ctx.ip ?? null;
    if (this.engine === 'postgres') {
      // A session end closer than a second away leaves no room for a successor (its exp would not pass its iat).
      const rotated = (
        await this.#rotation.rotateJoined.run(this.db, {
          sid: claims.sid,
          uid: claims.user_id,
          parent,
          next,
          now,
          ip,
          minEnd: (iat + 1) * 1000,
        })
      ).rows[0];
      if (rotated !== undefined) {
        const user = { id: claims.user_id, username: rotated.username, role: rotated.role };
        return this.#issue(
          user,
          claims.sid,
          { jti: nextJti, iat, exp: this.#refreshExp(now, rotated.expires_at) },
          now,
          signInClaims(rotated),
        );
      }
      return this.#replay(await this.#usable(claims.sid, claims.user_id, now), claims, parent, nextJti, ctx, now);
    }
    let row = await this.#usable(claims.sid, claims.user_id, now);
    if (row.refresh_hash === parent) {
      const exp = this.#refreshExp(now, row.expires_at);
      if (exp <= iat) throw new InvalidRefreshToken('session ended');
      if (await this.#writer.write({ sid: claims.sid, parent, next, now, ip })) {
        return this.#issue(row, claims.sid, { jti: nextJti, iat, exp }, now, signInClaims(row));
      }
      // Another rotation spent it first (or the session was revoked meanwhile): decide on what is stored now.
      row = await this.#usable(claims.sid, claims.user_id, now);
    }
    return this.#replay(row, claims, parent, nextJti, ctx, now);
  }

  /**
   * A refresh token of this session that is not its unspent one came back. Only Latchkey signs refresh
   * tokens, and it signs them for this session only when it issues one, so this token was spent before:
   * the same successor within the grace of its own rotation, theft otherwise.
   */
  async #replay(
    row: RotationRow,
    claims: TokenClaims,
    parent: string,
    nextJti: string,
    ctx: RequestContext,
    now: number,
  ): Promise<IssuedTokens> {
    const rotatedAt = row.rotated_at;
    if (row.refresh_hash === parent) throw new InvalidRefreshToken('rotation did not apply');
    // With no grace there is no window at all: a presentation in the very millisecond of the rotation
    // (concurrent requests rotated in one group commit) is a second use too. Only the last spent token has a
    // grace: one spent two rotations ago was replaced by a token that has itself been used since.
    if (
      this.config.refreshReuseGraceMs > 0 &&
      rotatedAt !== null &&
      row.previous_hash === parent &&
      row.refresh_hash === hashJti(nextJti) &&
      now - rotatedAt <= this.config.refreshReuseGraceMs
    ) {
      // The successor as its rotation issued it: the same jti, iat and exp.
      const refresh = { jti: nextJti, iat: Math.floor(rotatedAt / 1000), exp: this.#refreshExp(rotatedAt, row.expires_at) };
      return this.#issue(row, claims.sid, refresh, now, signInClaims(row));
    }
    await this.revoke(claims.sid, 'refresh_token_reuse', ctx, now);
    await this.audit.write('refresh_token_reuse', { userId: row.id, sessionId: claims.sid }, ctx, now);
    throw new RefreshTokenReused(claims.sid);
  }

  /**
   * Revokes one session: its refresh tokens stop at once and its access tokens are refused by
   * Latchkey's own endpoints. Returns false when it was already revoked or does not exist.
   */
  async revoke(sid: string, reason: RevokeReason, _ctx: RequestContext = {}, now = Date.now()): Promise<boolean> {
    const expiresAt = revocationExpiry(this.config, now);
    const revoked = await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('sessions')
        .set({ revoked_at: now, revoke_reason: reason })
        .where('id', '=', sid)
        .where('revoked_at', 'is', null)
        .returning('user_id')
        .executeTakeFirst();
      if (!row) return false;
      await trx
        .insertInto('revoked_sessions')
        .values({ session_id: sid, user_id: row.user_id, revoked_at: now, expires_at: expiresAt })
        .onConflict((oc) => oc.column('session_id').doNothing())
        .execute();
      return true;
    });
    if (revoked) await this.revocations.announce({ sessionId: sid, expiresAt });
    return revoked;
  }

  /** Revokes every active session of a user, except `keep`, in one transaction. Returns how many were revoked. */
  async revokeAllOfUser(userId: number, reason: RevokeReason, _ctx: RequestContext = {}, keep?: string, now = Date.now()): Promise<number> {
    const revoked = await this.db.transaction().execute((trx) => this.#revokeAllIn(trx, userId, reason, keep, now));
    await this.#announceAll(revoked);
    return revoked.length;
  }

  /**
   * The one operation behind every change that must end a user's sessions: a new password (self-service,
   * admin, CLI, reset by email), disabling, deletion. In ONE transaction it raises the user's
   * `credential_version` (which locks the user row), revokes every session but `keep`, moves `keep` to
   * the new version, and runs `apply` (store the new hash, set disabled, delete the row). A login that
   * checked the old password either committed its session before (and it is revoked here) or finds
   * another version and gets a 401 ({@link start}); refresh compares versions too. Revocations reach
   * `/verify`, `/me` and resource servers (the revocation feed) after the commit, as any revocation does.
   *
   * `expectedVersion` makes the change conditional (a self-service change whose current password was
   * checked against that version): a concurrent change wins and this one throws {@link Conflict}.
   * `serializable` runs the transaction at that isolation (the last-ADMIN check in UserStore needs it).
   *
   * @example
   *   const hash = await hasher.hash(next);
   *   await sessions.revokeAllForCredentialChange(user.id, 'password_changed', (trx) => users.storeHash(user.id, hash, Date.now(), trx));
   */
  async revokeAllForCredentialChange<T>(
    userId: number,
    reason: RevokeReason,
    apply: (trx: Kysely<Database>) => Promise<T>,
    options: { keep?: string; expectedVersion?: number; serializable?: boolean; now?: number } = {},
  ): Promise<T> {
    const now = options.now ?? Date.now();
    const transaction = options.serializable ? this.db.transaction().setIsolationLevel('serializable') : this.db.transaction();
    const { result, revoked } = await transaction.execute(async (trx) => {
      let bump = trx
        .updateTable('users')
        .set((eb) => ({ credential_version: eb('credential_version', '+', 1) }))
        .where('id', '=', userId);
      if (options.expectedVersion !== undefined) bump = bump.where('credential_version', '=', options.expectedVersion);
      const bumped = await bump.returning('credential_version').executeTakeFirst();
      if (bumped === undefined) {
        if (options.expectedVersion === undefined) throw new NotFound('no such user');
        throw new Conflict('the account changed meanwhile; try again');
      }
      const revoked = await this.#revokeAllIn(trx, userId, reason, options.keep, now);
      // A sign-in half-way (a password proven, the second step still to come) was proven with the old
      // credentials: its mfa_token dies with them, so it cannot open a session under the new version.
      await trx
        .updateTable('mfa_challenges')
        .set({ spent_at: now })
        .where('user_id', '=', userId)
        .where('kind', '=', 'mfa_token')
        .where('spent_at', 'is', null)
        .execute();
      if (options.keep !== undefined) {
        await trx.updateTable('sessions').set({ credential_version: bumped.credential_version }).where('id', '=', options.keep).execute();
      }
      return { result: await apply(trx), revoked };
    });
    await this.#announceAll(revoked);
    return result;
  }

  /** Marks every active session of `userId` but `keep` revoked and records them for `/verify`. */
  async #revokeAllIn(
    trx: Kysely<Database>,
    userId: number,
    reason: RevokeReason,
    keep: string | undefined,
    now: number,
  ): Promise<Revocation[]> {
    let update = trx
      .updateTable('sessions')
      .set({ revoked_at: now, revoke_reason: reason })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null);
    if (keep !== undefined) update = update.where('id', '!=', keep);
    const rows = await update.returning('id').execute();
    const expiresAt = revocationExpiry(this.config, now);
    // In chunks: PostgreSQL takes at most 65,535 parameters in one statement.
    for (let i = 0; i < rows.length; i += 1000) {
      await trx
        .insertInto('revoked_sessions')
        .values(rows.slice(i, i + 1000).map((row) => ({ session_id: row.id, user_id: userId, revoked_at: now, expires_at: expiresAt })))
        .onConflict((oc) => oc.column('session_id').doNothing())
        .execute();
    }
    return rows.map((row) => ({ sessionId: row.id, expiresAt }));
  }

  async #announceAll(revoked: readonly Revocation[]): Promise<void> {
    for (const revocation of revoked) await this.revocations.announce(revocation);
  }

  /** The user's active sessions, newest first. */
  async listActive(userId: number, now = Date.now()): Promise<SessionInfo[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      expiresAt: r.expires_at,
      ip: r.ip,
      userAgent: r.user_agent,
    }));
  }

  /** Revokes a session of `userId`; NotFound when the session is not that user's or not active. */
  async revokeOwn(userId: number, sid: string, reason: RevokeReason, ctx: RequestContext = {}): Promise<void> {
    const row = await this.db.selectFrom('sessions').select(['user_id', 'revoked_at']).where('id', '=', sid).executeTakeFirst();
    if (!row || row.user_id !== userId || row.revoked_at !== null) throw new NotFound('no such session');
    await this.revoke(sid, reason, ctx);
  }

  /**
   * Verifies an access token and refuses those of revoked sessions. An enrolment-only token (SPEC §11
   * policy) is refused with 403 unless the endpoint is one of the few that take it.
   */
  authenticate(accessToken: string, options: { allowEnrollmentOnly?: boolean } = {}): TokenClaims {
    const claims = this.tokens.verifyAccess(accessToken);
    if (this.revocations.has(claims.sid)) throw new InvalidAccessToken('session revoked');
    if (claims.scope !== undefined && !options.allowEnrollmentOnly) throw new Forbidden();
    return claims;
  }

  /**
   * The session a refresh token belongs to, for logout by refresh token; does not spend the token. Any
   * validly signed refresh token of a live session names it (a spent one too, as before: the holder could
   * equally end the session by presenting it to refresh).
   */
  async sessionOfRefreshToken(refreshToken: string): Promise<{ sid: string; userId: number }> {
    const claims = this.tokens.verifyRefresh(refreshToken);
    const row = await this.db
      .selectFrom('sessions')
      .select(['id', 'user_id', 'revoked_at'])
      .where('id', '=', claims.sid)
      .executeTakeFirst();
    if (!row || row.revoked_at !== null || row.user_id !== claims.user_id) throw new InvalidRefreshToken('unknown or revoked');
    return { sid: row.id, userId: row.user_id };
  }

  /**
   * Deletes what can no longer be used: ended sessions (their refresh state goes with them) and stale
   * revocations. A rotation stores nothing new, so there are no spent tokens to prune.
   */
  async pruneExpired(now = Date.now()): Promise<void> {
    const margin = CLOCK_SKEW_MS + this.config.refreshReuseGraceMs;
    await this.db.deleteFrom('revoked_sessions').where('expires_at', '<', now).execute();
    await this.db
      .deleteFrom('sessions')
      .where((eb) =>
        eb.or([
          eb('expires_at', '<', now - margin),
          eb.and([eb('revoked_at', 'is not', null), eb('revoked_at', '<', now - this.config.refreshTtlMs)]),
          // Idle past the refresh lifetime: no refresh token of it can still be valid.
          eb('last_used_at', '<', now - this.config.refreshTtlMs - margin),
        ]),
      )
      .execute();
  }
}
