/**
 * Mail links (SPEC §10): email verification and resend, forgotten password and reset, email change. Link
 * tokens carry 256 random bits, are stored only as their SHA-256, are bound to one purpose, spent by one
 * atomic update, and voided by a newer link of the same kind. A message is written to the outbox in the same
 * transaction as its token.
 *
 * No enumeration, by construction: for a known and an unknown address the same statements run (a token row
 * and an outbox row are written either way; for nobody the token has no user and the message is a decoy the
 * sender discards), so answers and their timing do not depend on whether the account exists.
 *
 * @example
 *   await links.forgotPassword({ email: 'ada@example.com' }, ctx);
 *   await links.resetPassword(tokenFromTheMail, 'a new passphrase', ctx);
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditLog, RequestContext } from '../audit.ts';
import type { Config } from '../config.ts';
import { Conflict, Forbidden, InvalidLinkToken, RefusedValue } from '../errors.ts';
import type { MailLimits } from '../mail/limits.ts';
import type { MailOutbox } from '../mail/outbox.ts';
import type { MailKind, MailTemplates } from '../mail/templates.ts';
import type { PendingSignIn, SecondStep } from '../mfa/sign-in.ts';
import type { Database } from '../store/schema.ts';
import { checkNewPassword, type PasswordHasher } from './passwords.ts';
import type { IssuedTokens, SessionService } from './sessions.ts';
import { emailKey } from './identifiers.ts';
import type { PasswordCheck } from './password-check.ts';
import { isUniqueViolation } from '../store/errors.ts';
import { checkEmail, type User, type UserStore } from './users.ts';

export type LinkPurpose = 'verify_email' | 'reset_password' | 'change_email';

/** 256 random bits, base64url (SPEC §10 asks for at least 128). */
export function newLinkToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Only this is stored: a database leak yields no usable link. */
export function hashLinkToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** The `{kind}` of LATCHKEY_LINK_URL: the page that takes the token. */
function linkKind(purpose: LinkPurpose): 'verify-email' | 'reset-password' {
  return purpose === 'reset_password' ? 'reset-password' : 'verify-email';
}

export function linkFor(config: Config, purpose: LinkPurpose, token: string): string {
  return config.linkUrl.replaceAll('{kind}', linkKind(purpose)).replaceAll('{token}', encodeURIComponent(token));
}

function describeTtl(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} ${ms === 86_400_000 ? 'day' : 'days'}`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} ${ms === 3_600_000 ? 'hour' : 'hours'}`;
  return `${Math.max(1, Math.round(ms / 60_000))} minutes`;
}

/** One message to queue; `purpose` set means the message carries a fresh link token of that purpose. */
export interface MailRequest {
  readonly kind: MailKind;
  readonly purpose: LinkPurpose | null;
  /** The owner of the token; null writes a token bound to nobody (a decoy). */
  readonly userId: number | null;
  /** The address a verification link confirms (the user's, or the new one of an email change). */
  readonly email: string | null;
  readonly to: string | null;
  readonly deliver: boolean;
  readonly username: string;
}

export interface EmailLinkDeps {
  readonly db: Kysely<Database>;
  readonly config: Config;
  readonly users: UserStore;
  readonly hasher: PasswordHasher;
  readonly sessions: SessionService;
  /** The limited, audited current-password check of every endpoint that asks for one (auth/password-check.ts). */
  readonly passwordCheck: PasswordCheck;
  readonly audit: AuditLog;
  readonly outbox: MailOutbox;
  readonly templates: MailTemplates;
  readonly limits: MailLimits;
  /** Tells the sender a message is waiting (it also polls). */
  readonly wake: () => void;
  /** The second step a sign-in by link owes, as a password login does (SPEC §11); none in some tests. */
  readonly secondStep?: Pick<SecondStep, 'afterPrimary'>;
}

export class EmailLinks {
  constructor(private readonly deps: EmailLinkDeps) {}

  /**
   * Writes a message (and its token, and the voiding of older tokens of its kind) in one transaction. The same
   * three statements run whether or not `userId` names somebody. Resolves once the message is durable.
   */
  async queue(requests: readonly MailRequest[], now = Date.now()): Promise<void> {
    const { db, config, outbox, templates } = this.deps;
    await db.transaction().execute(async (trx) => {
      for (const r of requests) {
        let link = '';
        let ttl = 0;
        if (r.purpose !== null) {
          const token = newLinkToken();
          ttl = r.purpose === 'reset_password' ? config.resetTtlMs : config.verifyTtlMs;
          link = linkFor(config, r.purpose, token);
          // A newer link of a kind voids the older unused ones (SPEC §10); -1 matches nobody, for the decoy.
          await trx
            .updateTable('link_tokens')
            .set({ used_at: now })
            .where('user_id', '=', r.userId ?? -1)
            .where('purpose', '=', r.purpose)
            .where('used_at', 'is', null)
            .execute();
          await trx
            .insertInto('link_tokens')
            .values({
              token_hash: hashLinkToken(token),
              user_id: r.userId,
              purpose: r.purpose,
              email: r.email,
              created_at: now,
              expires_at: now + ttl,
              used_at: null,
            })
            .execute();
        }
        const message = templates.render(r.kind, {
          app_name: config.appName,
          username: r.username,
          email: r.email ?? r.to ?? '',
          link,
          expires_in: describeTtl(ttl),
        });
        await outbox.add(trx, { kind: r.kind, to: r.to, deliver: r.deliver, message }, now);
      }
    });
    this.deps.wake();
  }

  /** `POST /email/resend`: a new verification link for an unverified address; a decoy for any other. */
  async resendVerification(email: string, ctx: RequestContext): Promise<void> {
    const { users, limits } = this.deps;
    await limits.beforeRequest(ctx.ip ?? 'unknown');
    checkEmail(email);
    const owner = await users.findByEmail(email);
    const user = owner !== undefined && !owner.emailVerified && !owner.disabled ? owner : undefined;
    const allowed = await limits.allowRecipient(email);
    await this.queue([
      {
        kind: 'verify-email',
        purpose: 'verify_email',
        userId: user?.id ?? null,
        email: user?.email ?? email,
        to: user?.email ?? email,
        deliver: user !== undefined && allowed,
        username: user?.username ?? '',
      },
    ]);
  }

  /** `POST /password/forgot`: a reset link to the account's address; a decoy when there is no such account. */
  async forgotPassword(who: { email?: string; username?: string }, ctx: RequestContext): Promise<void> {
    const { users, limits, audit } = this.deps;
    await limits.beforeRequest(ctx.ip ?? 'unknown');
    const byEmail = who.email !== undefined;
    const asked = who.email ?? who.username ?? '';
    if (byEmail) checkEmail(asked);
    const found = byEmail ? await users.findByEmail(asked) : await users.findByUsername(asked);
    // A disabled account, or one with no address to write to, is treated as nobody.
    const user = found !== undefined && !found.disabled && found.email !== null ? found : undefined;
    const allowed = await limits.allowRecipient(user?.email ?? asked);
    await this.queue([
      {
        kind: 'reset-password',
        purpose: 'reset_password',
        userId: user?.id ?? null,
        email: user?.email ?? null,
        to: user?.email ?? (byEmail ? asked : null),
        deliver: user !== undefined && allowed,
        username: user?.username ?? '',
      },
    ]);
    // Written for nobody too (no user id), so the same statements run either way.
    await audit.write('password_reset_requested', { userId: user?.id ?? null, details: { delivered: user !== undefined && allowed } }, ctx);
  }

  /**
   * Spends a token of one of `purposes` atomically: of two requests racing with one token, one gets the row.
   * Returns undefined for an unknown, used, expired, decoy or wrong-purpose token.
   */
  async #spend(trx: Kysely<Database>, token: string, purposes: readonly LinkPurpose[], now: number) {
    if (token.length > 256) return undefined;
    return trx
      .updateTable('link_tokens')
      .set({ used_at: now })
      .where('token_hash', '=', hashLinkToken(token))
      .where('purpose', 'in', purposes)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .where('user_id', 'is not', null)
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * `POST /password/reset`: sets the password, marks the address verified, ends every session. The link is
   * good only while the account still has the address it was mailed to and is not disabled: a link left in
   * an old mailbox (the usual reason to move) must not take the account back after an email change.
   */
  async resetPassword(token: string, newPassword: string, ctx: RequestContext, now = Date.now()): Promise<void> {
    const { db, config, hasher, audit } = this.deps;
    // The rules first: a refused password must not spend the link.
    checkNewPassword(newPassword, config.passwordHash, 'new_password');
    const hash = await hasher.hash(newPassword);
    // Whose link is it? Read without spending; the spend itself happens inside the credential change below,
    // so a raced or used link rolls the whole change back.
    const owner =
      token.length > 256
        ? undefined
        : await db.selectFrom('link_tokens').select('user_id').where('token_hash', '=', hashLinkToken(token)).executeTakeFirst();
    const userId = owner?.user_id;
    if (userId == null) throw new InvalidLinkToken();
    // The one credential-change operation (auth/sessions.ts): the new password, the version bump and the end
    // of every session commit together, so no token issued before the reset survives, even a racing login's.
    await this.deps.sessions.revokeAllForCredentialChange(userId, 'password_changed', async (trx) => {
      const row = await this.#spend(trx, token, ['reset_password'], now);
      if (row?.user_id !== userId || row.email === null) throw new InvalidLinkToken();
      const current = await trx.selectFrom('users').select(['email_key', 'disabled']).where('id', '=', userId).executeTakeFirst();
      if (current === undefined || current.disabled !== 0 || current.email_key !== emailKey(row.email)) throw new InvalidLinkToken();
      await this.deps.users.storeCredentials(userId, { passwordHash: hash, emailVerified: true }, now, trx);
    });
    await audit.write('password_reset', { userId }, ctx);
  }

  /**
   * `POST /email/verify`: confirms the address of a sign-up or an email change and signs the user in, with
   * the second step a password login would owe: a link proves the mailbox, never the second factor, so a
   * user with one gets `mfa_required` (and one obliged to have one, the enrolment-only token) instead.
   * A token for an address the account no longer has, or of a disabled account, is invalid.
   */
  async verifyEmail(token: string, ctx: RequestContext, now = Date.now()): Promise<IssuedTokens | PendingSignIn> {
    const { db, users, sessions, audit } = this.deps;
    let purpose: LinkPurpose = 'verify_email';
    let user: User;
    try {
      user = await db.transaction().execute(async (trx) => {
        const row = await this.#spend(trx, token, ['verify_email', 'change_email'], now);
        if (row?.user_id == null || row.email === null) throw new InvalidLinkToken();
        purpose = row.purpose as LinkPurpose;
        const current = await trx.selectFrom('users').selectAll().where('id', '=', row.user_id).executeTakeFirst();
        if (current === undefined || current.disabled !== 0) throw new InvalidLinkToken();
        if (purpose === 'verify_email') {
          if (current.email_key !== emailKey(row.email)) throw new InvalidLinkToken();
          return users.update(current.id, { emailVerified: true }, { within: trx }, now);
        }
        return users.update(current.id, { email: row.email, emailVerified: true }, { within: trx }, now);
      });
    } catch (error) {
      // The new address was taken by another account since the link was sent.
      if (error instanceof Conflict || isUniqueViolation(error)) throw new Conflict('email already taken');
      throw error;
    }
    await audit.write(purpose === 'verify_email' ? 'email_verified' : 'email_changed', { userId: user.id }, ctx);
    const pending = await this.deps.secondStep?.afterPrimary(user, 'pwd', ctx, now);
    if (pending !== undefined) return pending;
    const issued = await sessions.start(user, ctx, now);
    await audit.write('login_success', { userId: user.id, sessionId: issued.sessionId, details: { method: 'email_link' } }, ctx);
    return issued;
  }

  /**
   * `POST /email/change`: needs the current password; the new address gets a link, the old one a notice. A new
   * address that belongs to another account gets nothing (its owner did not ask), and the answer is the same.
   */
  async changeEmail(userId: number, newEmail: string, currentPassword: string, ctx: RequestContext): Promise<void> {
    const { users, limits, audit } = this.deps;
    await limits.beforeRequest(ctx.ip ?? 'unknown');
    const user = await users.getById(userId);
    // Limited and audited like login (issue 10 item 3); a wrong password is a 403: the caller is signed in.
    await this.deps.passwordCheck.checkCurrentPassword(user, currentPassword, ctx, { purpose: 'email_change' });
    checkEmail(newEmail, 'new_email');
    const owner = await users.findByEmail(newEmail);
    if (owner?.id === user.id) throw new RefusedValue('new_email', 'is already the address of this account');
    const allowed = await limits.allowRecipient(newEmail);
    const requests: MailRequest[] = [
      {
        kind: 'change-email',
        purpose: 'change_email',
        userId: user.id,
        email: newEmail,
        to: newEmail,
        deliver: owner === undefined && allowed,
        username: user.username,
      },
    ];
    if (user.email !== null) {
      const noticeAllowed = await limits.allowRecipient(user.email);
      requests.push({
        kind: 'email-changed',
        purpose: null,
        userId: user.id,
        email: newEmail,
        to: user.email,
        deliver: noticeAllowed,
        username: user.username,
      });
    }
    await this.queue(requests);
    await audit.write('email_change_requested', { userId: user.id }, ctx);
  }
}
