/**
 * Sign-up (SPEC §10) in the three modes of LATCHKEY_SIGNUP: `off` refuses, `open` creates the account and
 * signs it in, `verify` creates it unconfirmed and mails a link. In `verify` mode an address that already has
 * an account gets a `signup-exists` notice instead, and the answer is the same 202 (no enumeration). A taken
 * username is a 409 in both modes: usernames are public handles.
 *
 * @example
 *   const result = await signup.register({ username: 'ada', email: 'ada@example.com', password: '…' }, ctx);
 *   if (result.issued) … // open mode: signed in
 */
import type { AuditLog, RequestContext } from '../audit.ts';
import type { Config } from '../config.ts';
import { Conflict, Forbidden, SignupDisabled } from '../errors.ts';
import type { MailLimits } from '../mail/limits.ts';
import type { EmailLinks } from './email-links.ts';
import { checkNewPassword, type PasswordHasher } from './passwords.ts';
import type { IssuedTokens, SessionService } from './sessions.ts';
import { checkEmail, checkUsername, type UserStore } from './users.ts';

export interface SignupInput {
  readonly username: string;
  readonly email: string;
  readonly password: string;
}

/** `open` mode answers with tokens; `verify` mode with "a link was sent" (whatever happened). */
export type SignupResult = { readonly issued: IssuedTokens } | { readonly issued: undefined };

export interface SignupDeps {
  readonly config: Config;
  readonly users: UserStore;
  readonly hasher: PasswordHasher;
  readonly sessions: SessionService;
  readonly audit: AuditLog;
  readonly limits: MailLimits;
  readonly links: EmailLinks;
}

export class Signup {
  constructor(private readonly deps: SignupDeps) {}

  async register(input: SignupInput, ctx: RequestContext): Promise<SignupResult> {
    const { config, users, hasher, sessions, audit, limits, links } = this.deps;
    if (config.signup === 'off') throw new SignupDisabled();
    await limits.beforeRequest(ctx.ip ?? 'unknown');
    checkUsername(input.username);
    checkEmail(input.email);
    const domain = input.email.slice(input.email.lastIndexOf('@') + 1).toLowerCase();
    if (config.signupEmailDomains.length > 0 && !config.signupEmailDomains.includes(domain))
      throw new Forbidden('email domain not allowed');
    checkNewPassword(input.password, config.passwordHash);
    if (await users.findByUsername(input.username)) throw new Conflict('username already taken');
    // Hashed before the address is looked up, so a known address costs the same as a new one.
    const passwordHash = await hasher.hash(input.password);
    const owner = await users.findByEmail(input.email);

    if (config.signup === 'open') {
      if (owner) throw new Conflict('email already taken');
      const user = await this.#create(input, passwordHash);
      await audit.write('signup', { userId: user.id, details: { mode: 'open' } }, ctx);
      const issued = await sessions.start(user, ctx);
      await audit.write('login_success', { userId: user.id, sessionId: issued.sessionId }, ctx);
      return { issued };
    }

    const allowed = await limits.allowRecipient(input.email);
    const user =
      owner === undefined ? await this.#create(input, passwordHash).catch((error: unknown) => this.#lostRace(error, input)) : undefined;
    if (user === undefined) {
      // The notice carries no link, but a token bound to nobody is written anyway, and the attempt is audited
      // without a user: the known address runs the statements of the new one (bar the user row itself).
      await links.queue([
        {
          kind: 'signup-exists',
          purpose: 'verify_email',
          userId: null,
          email: input.email,
          to: input.email,
          deliver: allowed,
          username: '',
        },
      ]);
      await audit.write('signup', { userId: null, details: { mode: 'verify', outcome: 'address_taken' } }, ctx);
      return { issued: undefined };
    }
    await links.queue([
      {
        kind: 'verify-email',
        purpose: 'verify_email',
        userId: user.id,
        email: user.email,
        to: input.email,
        deliver: allowed,
        username: user.username,
      },
    ]);
    await audit.write('signup', { userId: user.id, details: { mode: 'verify', outcome: 'created' } }, ctx);
    return { issued: undefined };
  }

  #create(input: SignupInput, passwordHash: string) {
    return this.deps.users.create({
      username: input.username,
      email: input.email,
      passwordHash,
      role: 'STANDARD',
      emailVerified: false,
    });
  }

  /** Two sign-ups raced: a username taken meanwhile is the 409; an address taken meanwhile gets the notice. */
  async #lostRace(error: unknown, input: SignupInput): Promise<undefined> {
    if (!(error instanceof Conflict)) throw error;
    if (await this.deps.users.findByUsername(input.username)) throw new Conflict('username already taken');
    return undefined;
  }
}
