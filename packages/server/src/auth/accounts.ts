/**
 * Account changes that carry consequences (SPEC §4): a new password ends the other sessions, disabling
 * or deleting a user ends all of them, and the last active ADMIN cannot be demoted, disabled or deleted.
 * Used alike by the CLI, the self-service endpoints and the admin API, and audited.
 */
import type { AuditLog, RequestContext } from '../audit.ts';
import type { Role } from '../config.ts';
import { Conflict, Forbidden } from '../errors.ts';
import type { UserRow } from '../store/schema.ts';
import type { PasswordHasher } from './passwords.ts';
import type { SessionService } from './sessions.ts';
import type { NewUserInput, UserChanges, UserStore } from './users.ts';

export class AccountService {
  constructor(
    private readonly users: UserStore,
    private readonly sessions: SessionService,
    private readonly hasher: PasswordHasher,
    private readonly audit: AuditLog,
  ) {}

  async create(input: NewUserInput, ctx: RequestContext = {}): Promise<UserRow> {
    const user = await this.users.create(input);
    await this.audit.write('user_created', { userId: user.id, details: { role: user.role } }, ctx);
    return user;
  }

  /**
   * Refuses early (before any session is revoked) a change that would leave no active ADMIN, and says
   * whether the write itself must re-check inside its transaction (the race-proof check, in UserStore).
   */
  async #guardLastAdmin(user: UserRow, becomesNonAdmin: boolean): Promise<boolean> {
    if (user.role !== 'ADMIN' || user.disabled || !becomesNonAdmin) return false;
    if ((await this.users.countActiveAdmins()) <= 1) throw new Conflict('the last active ADMIN cannot be demoted, disabled or deleted');
    return true;
  }

  /** The user changes their own password: the current one is required; other sessions end. */
  async changeOwnPassword(userId: number, currentSession: string, current: string, next: string, ctx: RequestContext = {}): Promise<void> {
    const user = await this.users.getById(userId);
    const ok = user.password_hash !== null ? await this.hasher.verify(user.password_hash, current) : await this.hasher.verifyDummy(current);
    // 403, not 401: the caller is authenticated; a 401 would make clients drop a perfectly good session.
    if (!ok) throw new Forbidden('current password is incorrect');
    await this.users.setPassword(userId, next, 'new_password');
    await this.sessions.revokeAllOfUser(userId, 'password_changed', ctx, currentSession);
    await this.audit.write('password_changed', { userId, sessionId: currentSession }, ctx);
  }

  /** An administrator (or the CLI) sets a password: every session of the user ends. */
  async resetPassword(userId: number, next: string, ctx: RequestContext = {}): Promise<void> {
    await this.users.getById(userId);
    await this.users.setPassword(userId, next);
    await this.sessions.revokeAllOfUser(userId, 'password_changed', ctx);
    await this.audit.write('password_changed', { userId, details: { by_admin: true } }, ctx);
  }

  /** Applies username, email, role and disabled changes, with their consequences. */
  async update(userId: number, changes: UserChanges, ctx: RequestContext = {}): Promise<UserRow> {
    const before = await this.users.getById(userId);
    const demoted = changes.role !== undefined && changes.role !== 'ADMIN';
    const keepAnAdmin = await this.#guardLastAdmin(before, demoted || changes.disabled === true);
    const after = await this.users.update(userId, changes, { keepAnAdmin });
    if (changes.role !== undefined && changes.role !== before.role) {
      await this.audit.write('role_changed', { userId, details: { from: before.role, to: after.role } }, ctx);
    }
    if (changes.disabled !== undefined && Boolean(before.disabled) !== changes.disabled) {
      if (changes.disabled) await this.sessions.revokeAllOfUser(userId, 'user_disabled', ctx);
      await this.audit.write(changes.disabled ? 'user_disabled' : 'user_enabled', { userId }, ctx);
    }
    if (changes.username !== undefined || changes.email !== undefined || changes.emailVerified !== undefined) {
      await this.audit.write(
        'user_updated',
        { userId, details: { username: changes.username !== undefined, email: changes.email !== undefined, ...(changes.emailVerified === undefined ? {} : { email_verified: changes.emailVerified }) } },
        ctx,
      );
    }
    return after;
  }

  setRole(userId: number, role: Role, ctx: RequestContext = {}): Promise<UserRow> {
    return this.update(userId, { role }, ctx);
  }

  setDisabled(userId: number, disabled: boolean, ctx: RequestContext = {}): Promise<UserRow> {
    return this.update(userId, { disabled }, ctx);
  }

  /** Deletes a user after revoking every session (so their access tokens are refused at once). */
  async delete(userId: number, ctx: RequestContext = {}): Promise<void> {
    const user = await this.users.getById(userId);
    const keepAnAdmin = await this.#guardLastAdmin(user, true);
    await this.sessions.revokeAllOfUser(userId, 'user_deleted', ctx);
    await this.users.delete(userId, { keepAnAdmin });
    await this.audit.write('user_deleted', { userId }, ctx);
  }
}
