/**
 * Who an OpenID identity is here (SPEC §7): the user linked to (issuer, subject) first; else the user
 * with the same email, only when the provider says it verified that email (then the identity is
 * linked); else a new STANDARD user without a password, when the provider allows sign-up.
 *
 * @example
 *   const { user } = await identities.resolve(provider.config, claims, ctx);
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditLog, RequestContext } from '../audit.ts';
import type { SessionService } from '../auth/sessions.ts';
import type { User, UserStore } from '../auth/users.ts';
import { isUniqueViolation } from '../store/errors.ts';
import type { OidcProviderConfig } from '../config.ts';
import { Conflict } from '../errors.ts';
import type { Database } from '../store/schema.ts';
import { OidcSignInRefused } from './errors.ts';

/** What an ID token (or UserInfo) says about the person, already verified. */
export interface AssertedIdentity {
  readonly issuer: string;
  readonly subject: string;
  readonly email: string | undefined;
  readonly emailVerified: boolean;
  /** Google's `hd`: the Workspace domain of the account. */
  readonly hostedDomain: string | undefined;
}

export interface ResolvedUser {
  readonly user: User;
  readonly outcome: 'returning' | 'linked' | 'created';
}

/** `email_verified` is a boolean per OpenID Connect Core §5.1; some providers send the string "true". */
export function isVerified(value: unknown): boolean {
  return value === true || value === 'true';
}

/** A username from the email's local part: allowed characters only, 3 to 40 long. */
export function usernameBase(email: string): string {
  const local = (email.split('@')[0] ?? '')
    .normalize('NFKC')
    .replace(/[^A-Za-z0-9._-]/g, '')
    .slice(0, 40);
  return local.length >= 3 ? local : `user${local}`.slice(0, 40).padEnd(3, '0');
}

export class IdentityLinker {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly users: UserStore,
    private readonly audit: AuditLog,
    /** Ends sessions of an account whose unconfirmed address a provider proves belongs to someone else. */
    private readonly sessions?: Pick<SessionService, 'revokeAllForCredentialChange'>,
  ) {}

  /** Checks the email and domain rules, then finds, links or creates the user. Throws {@link OidcSignInRefused}. */
  async resolve(provider: OidcProviderConfig, identity: AssertedIdentity, ctx: RequestContext): Promise<ResolvedUser> {
    // Without a verified email anyone could claim someone else's address at a lax provider.
    if (identity.email === undefined || !identity.emailVerified) throw new OidcSignInRefused('email_not_verified');
    this.#checkDomain(provider, identity);
    try {
      return await this.#resolve(provider, identity, ctx);
    } catch (error) {
      // Two first sign-ins of one identity racing: the loser finds what the winner stored.
      if (!(error instanceof Conflict)) throw error;
      return this.#resolve(provider, identity, ctx);
    }
  }

  #checkDomain(provider: OidcProviderConfig, identity: AssertedIdentity): void {
    if (provider.allowedDomains.length === 0) return;
    const domain = provider.domainClaim === 'hd' ? identity.hostedDomain : identity.email?.split('@').pop();
    if (domain === undefined || !provider.allowedDomains.includes(domain.toLowerCase())) throw new OidcSignInRefused('domain_not_allowed');
  }

  async #resolve(provider: OidcProviderConfig, identity: AssertedIdentity, ctx: RequestContext): Promise<ResolvedUser> {
    const email = identity.email as string;
    const now = Date.now();
    const link = await this.db
      .selectFrom('identities')
      .select('user_id')
      .where('issuer', '=', identity.issuer)
      .where('subject', '=', identity.subject)
      .executeTakeFirst();
    const linked = link === undefined ? undefined : await this.users.findById(link.user_id);
    if (linked) {
      refuseDisabled(linked);
      await this.db
        .updateTable('identities')
        .set({ last_used_at: now, email })
        .where('issuer', '=', identity.issuer)
        .where('subject', '=', identity.subject)
        .execute();
      return { user: linked, outcome: 'returning' };
    }

    const sameEmail = await this.users.findByEmail(email);
    if (sameEmail) {
      refuseDisabled(sameEmail);
      if (!sameEmail.emailVerified) await this.#claimUnconfirmed(sameEmail.id, ctx, now);
      await this.#link(provider, identity, sameEmail.id, now);
      await this.audit.write('oidc_linked', { userId: sameEmail.id, details: { provider: provider.id, issuer: identity.issuer } }, ctx);
      return { user: !sameEmail.emailVerified ? await this.users.getById(sameEmail.id) : sameEmail, outcome: 'linked' };
    }

    if (!provider.autoCreate) throw new OidcSignInRefused('signup_disabled');
    const user = await this.users.create({ username: await this.#freeUsername(usernameBase(email)), email, role: 'STANDARD' }, now);
    await this.#link(provider, identity, user.id, now);
    await this.audit.write(
      'oidc_user_created',
      { userId: user.id, details: { provider: provider.id, issuer: identity.issuer, role: user.role } },
      ctx,
    );
    return { user, outcome: 'created' };
  }

  /**
   * SPEC §10: a provider-verified address makes the account verified. But whoever made an account with an
   * address they never confirmed may not be its owner (account pre-hijacking): the mailbox owner, proven by the
   * provider, takes it over, so that password and its sessions end.
   */
  async #claimUnconfirmed(userId: number, ctx: RequestContext, now: number): Promise<void> {
    const claim = (db: Kysely<Database>) => this.users.storeCredentials(userId, { passwordHash: null, emailVerified: true }, now, db);
    // The password goes, so every session it opened goes too, in the same transaction (auth/sessions.ts).
    if (this.sessions) await this.sessions.revokeAllForCredentialChange(userId, 'password_changed', claim, { now });
    else await claim(this.db);
  }

  async #link(provider: OidcProviderConfig, identity: AssertedIdentity, userId: number, now: number): Promise<void> {
    try {
      await this.db
        .insertInto('identities')
        .values({
          issuer: identity.issuer,
          subject: identity.subject,
          provider: provider.id,
          user_id: userId,
          email: identity.email ?? null,
          created_at: now,
          last_used_at: now,
        })
        .execute();
    } catch (error) {
      // Linked meanwhile by a concurrent sign-in: let resolve() look again.
      if (isUniqueViolation(error)) throw new Conflict('identity is already linked');
      throw error;
    }
  }

  /** `base`, else `base-2` … `base-9`, else `base-` and random hex: usernames are unique. */
  async #freeUsername(base: string): Promise<string> {
    for (let n = 1; n < 10; n++) {
      const candidate = n === 1 ? base : `${base}-${n}`;
      if (!(await this.users.findByUsername(candidate))) return candidate;
    }
    return `${base}-${randomBytes(4).toString('hex')}`;
  }
}

function refuseDisabled(user: User): void {
  if (user.disabled) throw new OidcSignInRefused('account_disabled');
}
