/**
 * Account changes that carry consequences (SPEC §4): a new password ends the other sessions, disabling
 * or deleting a user ends all of them, and the last active ADMIN cannot be demoted, disabled or deleted.
 * Also the ends of sessions that a user or an admin asks for (logout, logout everywhere, revoking a session).
 * Used alike by the CLI, the self-service endpoints and the admin API; each operation writes its own audit event,
 * so every caller records the same.
 */
import type { AuditLog, RequestContext } from '../audit.ts';
import type { Role } from '../config.ts';
import { Conflict } from '../errors.ts';
import type { EventLogger, PasswordCheck } from './password-check.ts';
import { checkNewPassword, type PasswordHasher } from './passwords.ts';
import type { SessionService } from './sessions.ts';
import { isSerializationFailure } from '../store/errors.ts';
import { type NewUserInput, type User, type UserChanges, type UserStore } from './users.ts';

export class AccountService {
  constructor(
    private readonly users: UserStore,
    private readonly sessions: SessionService,
    private readonly hasher: PasswordHasher,
    private readonly audit: AuditLog,
    private readonly passwordCheck: PasswordCheck,
  ) {}

  async create(input: NewUserInput, ctx: RequestContext = {}): Promise<User> {
    const user = await this.users.create(input);
    await this.audit.write('user_created', { userId: user.id, details: { role: user.role } }, ctx);
    return user;
  }

  /**
   * Refuses early (before any session is revoked) a change that would leave no active ADMIN, and says
   * whether the write itself must re-check inside its (serializable) transaction, the race-proof check in
   * UserStore: every demotion, disabling or deletion of an ADMIN does, a disabled one too. `user` was read
   * before that transaction, and a request running meanwhile may re-enable them and, counting on them,
   * demote the last other ADMIN.
   */
  async #guardLastAdmin(user: User, becomesNonAdmin: boolean): Promise<boolean> {
    if (user.role !== 'ADMIN' || !becomesNonAdmin) return false;
    if (!user.disabled && (await this.users.countActiveAdmins()) <= 1) {
      throw new Conflict('the last active ADMIN cannot be demoted, disabled or deleted');
    }
    return true;
  }

  /**
   * The user changes their own password: the current one is checked through
   * {@link PasswordCheck.checkCurrentPassword} (limited and audited like login); every other session ends
   * in the same transaction as the change, and a change made meanwhile by someone else wins (409).
   */
  async changeOwnPassword(
    userId: number,
    currentSession: string,
    current: string,
    next: string,
    ctx: RequestContext = {},
    log?: EventLogger,
  ): Promise<void> {
    const user = await this.users.getById(userId);
    await this.passwordCheck.checkCurrentPassword(user, current, ctx, {
      purpose: 'password_change',
      ...(log === undefined ? {} : { log }),
    });
    checkNewPassword(next, this.users.hashAlgorithm, 'new_password');
    const hash = await this.hasher.hash(next);
    await this.sessions.revokeAllForCredentialChange(
      userId,
      'password_changed',
      (trx) => this.users.storeHash(userId, hash, Date.now(), trx),
      {
        keep: currentSession,
        expectedVersion: user.credentialVersion,
      },
    );
    await this.audit.write('password_changed', { userId, sessionId: currentSession }, ctx);
  }

  /**
   * Sets a new password and ends every session of the user, in one transaction (issue 10 #1): the admin
   * API, the CLI, and a reset by email call this.
   */
  async resetPassword(
    userId: number,
    next: string,
    ctx: RequestContext = {},
    details: Readonly<Record<string, string | boolean>> = { by_admin: true },
  ): Promise<void> {
    await this.users.getById(userId);
    checkNewPassword(next, this.users.hashAlgorithm);
    const hash = await this.hasher.hash(next);
    await this.sessions.revokeAllForCredentialChange(userId, 'password_changed', (trx) =>
      this.users.storeHash(userId, hash, Date.now(), trx),
    );
    await this.audit.write('password_changed', { userId, details }, ctx);
  }

  /** Applies username, email, role and disabled changes, with their consequences. */
  async update(userId: number, changes: UserChanges, ctx: RequestContext = {}): Promise<User> {
    const before = await this.users.getById(userId);
    const demoted = changes.role !== undefined && changes.role !== 'ADMIN';
    const keepAnAdmin = await this.#guardLastAdmin(before, demoted || changes.disabled === true);
    // Disabling ends every session in the transaction that disables (see SessionService.revokeAllForCredentialChange).
    const after =
      changes.disabled === true && !before.disabled
        ? await this.#serialized(() =>
            this.sessions.revokeAllForCredentialChange(
              userId,
              'user_disabled',
              (trx) => this.users.update(userId, changes, { keepAnAdmin, within: trx }),
              {
                serializable: keepAnAdmin,
              },
            ),
          )
        : await this.users.update(userId, changes, { keepAnAdmin });
    if (changes.role !== undefined && changes.role !== before.role) {
      await this.audit.write('role_changed', { userId, details: { from: before.role, to: after.role } }, ctx);
    }
    if (changes.disabled !== undefined && before.disabled !== changes.disabled) {
      await this.audit.write(changes.disabled ? 'user_disabled' : 'user_enabled', { userId }, ctx);
    }
    if (changes.username !== undefined || changes.email !== undefined || changes.emailVerified !== undefined) {
      await this.audit.write(
        'user_updated',
        {
          userId,
          details: {
            username: changes.username !== undefined,
            email: changes.email !== undefined,
            ...(changes.emailVerified === undefined ? {} : { email_verified: changes.emailVerified }),
          },
        },
        ctx,
      );
    }
    return after;
  }

  setRole(userId: number, role: Role, ctx: RequestContext = {}): Promise<User> {
    return this.update(userId, { role }, ctx);
  }

  setDisabled(userId: number, disabled: boolean, ctx: RequestContext = {}): Promise<User> {
    return this.update(userId, { disabled }, ctx);
  }

  /** Deletes a user after revoking every session (so their access tokens are refused at once). */
  async delete(userId: number, ctx: RequestContext = {}): Promise<void> {
    const user = await this.users.getById(userId);
    const keepAnAdmin = await this.#guardLastAdmin(user, true);
    // The revocation rows outlive the user, so its access tokens stay refused until they expire.
    await this.#serialized(() =>
      this.sessions.revokeAllForCredentialChange(userId, 'user_deleted', (trx) => this.users.delete(userId, { keepAnAdmin, within: trx }), {
        serializable: keepAnAdmin,
      }),
    );
    await this.audit.write('user_deleted', { userId }, ctx);
  }

  /** Logout: ends the caller's session `sid` (the Bearer token's or the refresh token's). */
  async logout(userId: number, sid: string, ctx: RequestContext = {}): Promise<void> {
    await this.sessions.revoke(sid, 'logout', ctx);
    await this.audit.write('logout', { userId, sessionId: sid }, ctx);
  }

  /** Logout everywhere: ends every session of the user, `currentSession` included; returns how many ended. */
  async logoutEverywhere(userId: number, currentSession: string, ctx: RequestContext = {}): Promise<number> {
    const count = await this.sessions.revokeAllOfUser(userId, 'logout_all', ctx);
    await this.audit.write('logout_all', { userId, sessionId: currentSession, details: { sessions: count } }, ctx);
    return count;
  }

  /**
   * Ends one session of the user (`{ sid }`: NotFound unless it is theirs and active), or, for an admin, all of
   * them (`'all'`: NotFound for no such user).
   */
  async revokeSessions(userId: number, which: { readonly sid: string } | 'all', ctx: RequestContext = {}): Promise<void> {
    if (which === 'all') {
      await this.users.getById(userId);
      const count = await this.sessions.revokeAllOfUser(userId, 'admin', ctx);
      await this.audit.write('session_revoked', { userId, details: { sessions: count, by_admin: true } }, ctx);
      return;
    }
    await this.sessions.revokeOwn(userId, which.sid, 'session_revoked', ctx);
    await this.audit.write('session_revoked', { userId, sessionId: which.sid }, ctx);
  }

  /** PostgreSQL aborts one of two racing serializable changes to the administrators: a Conflict, as in UserStore. */
  async #serialized<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (isSerializationFailure(error)) throw new Conflict('a concurrent change to the administrators won; try again');
      throw error;
    }
  }
}
