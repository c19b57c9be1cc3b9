/**
 * Passkeys (WebAuthn Level 3) through `@simplewebauthn/server` (SPEC §11): registration for a signed-in user,
 * the user's own list, and assertions — passwordless (discoverable credentials) or as the second factor.
 * Challenges are single-use, five minutes, in the database (any instance can finish a ceremony); the RP ID
 * and the allowed origins come from the configuration; the signature counter is checked and stored with a
 * compare-and-set.
 *
 * @example
 *   const options = await passkeys.registrationOptions(user);
 *   const added = await passkeys.register(user.id, credentialFromBrowser, 'Laptop');
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { AuditLog, RequestContext } from '../audit.ts';
import type { Config } from '../config.ts';
import { Conflict, InvalidPasskey, NotFound } from '../errors.ts';
import type { User } from '../auth/users.ts';
import type { Database, PasskeyRow } from '../store/schema.ts';
import { type ChallengeStore, CHALLENGE_TTL_MS } from './challenges.ts';

export interface PasskeyInfo {
  readonly id: string;
  readonly name: string;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
}

function info(row: PasskeyRow): PasskeyInfo {
  return { id: row.id, name: row.name, createdAt: row.created_at, lastUsedAt: row.last_used_at };
}

type WebAuthn = typeof import('@simplewebauthn/server') & typeof import('@simplewebauthn/server/helpers');
let webauthnLoaded: Promise<WebAuthn> | undefined;

/**
 * `@simplewebauthn/server`, loaded on the first passkey ceremony: with its ASN.1 and X.509 parsers it is
 * nearly 300 modules, the largest library of the server, and a server whose users have no passkeys never
 * needs it.
 */
function webauthn(): Promise<WebAuthn> {
  webauthnLoaded ??= Promise.all([import('@simplewebauthn/server'), import('@simplewebauthn/server/helpers')]).then(
    ([server, helpers]) => ({ ...server, ...helpers }),
  );
  return webauthnLoaded;
}

/** The challenge a browser answered, read from its clientDataJSON; null when it cannot be read. */
function answeredChallenge({ decodeClientDataJSON }: WebAuthn, clientDataJSON: unknown): string | null {
  if (typeof clientDataJSON !== 'string') return null;
  try {
    const challenge = decodeClientDataJSON(clientDataJSON).challenge;
    return typeof challenge === 'string' && challenge !== '' ? challenge : null;
  } catch {
    return null;
  }
}

/** The WebAuthn user handle: the user id as decimal bytes (stable, and no personal data). */
function userHandle(userId: number): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(String(userId)) as Uint8Array<ArrayBuffer>;
}

export class PasskeyService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly config: Config,
    private readonly challenges: ChallengeStore,
    private readonly audit: AuditLog,
  ) {}

  async #ofUser(userId: number): Promise<PasskeyRow[]> {
    return this.db.selectFrom('passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
  }

  #descriptor(row: PasskeyRow): { id: string; transports?: string[] } {
    const transports = row.transports === null ? undefined : (JSON.parse(row.transports) as string[]);
    return { id: row.credential_id, ...(transports === undefined ? {} : { transports }) };
  }

  /** Creation options: resident key and user verification preferred, the user's passkeys excluded. */
  async registrationOptions(user: User, now = Date.now()): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.#ofUser(user.id);
    const { generateRegistrationOptions } = await webauthn();
    const options = await generateRegistrationOptions({
      rpName: this.config.issuer,
      rpID: this.config.webauthnRpId,
      userName: user.username,
      userID: userHandle(user.id),
      timeout: CHALLENGE_TTL_MS,
      attestationType: 'none',
      excludeCredentials: existing.map((row) => this.#descriptor(row)),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    });
    // Keyed by the challenge itself: the browser sends it back inside clientDataJSON.
    await this.challenges.issue('passkey_registration', { userId: user.id, challenge: options.challenge, id: options.challenge }, now);
    return options;
  }

  /** Verifies an attestation against a challenge this user was given, and stores the passkey. */
  async register(
    userId: number,
    credential: RegistrationResponseJSON,
    name: string | undefined,
    ctx: RequestContext = {},
    now = Date.now(),
  ): Promise<PasskeyInfo> {
    const lib = await webauthn();
    const challenge = answeredChallenge(lib, credential.response?.clientDataJSON);
    if (challenge === null) throw new InvalidPasskey('no challenge');
    // Spent before the verification: a challenge answers one ceremony, whatever its outcome.
    await this.challenges.spend('passkey_registration', challenge, now, userId).catch(() => {
      throw new InvalidPasskey('unknown, spent or expired challenge');
    });
    let verified;
    try {
      verified = await lib.verifyRegistrationResponse({
        response: credential,
        expectedChallenge: challenge,
        expectedOrigin: [...this.config.webauthnOrigins],
        expectedRPID: this.config.webauthnRpId,
        requireUserVerification: false,
      });
    } catch (error) {
      throw new InvalidPasskey(error instanceof Error ? error.message : 'attestation refused');
    }
    if (!verified.verified) throw new InvalidPasskey('attestation refused');
    const { credential: cred } = verified.registrationInfo;
    const row: PasskeyRow = {
      id: randomBytes(12).toString('base64url'),
      user_id: userId,
      credential_id: cred.id,
      public_key: lib.isoBase64URL.fromBuffer(cred.publicKey),
      counter: cred.counter,
      transports: cred.transports === undefined ? null : JSON.stringify(cred.transports),
      name: name ?? `Passkey ${new Date(now).toISOString().slice(0, 10)}`,
      created_at: now,
      last_used_at: null,
    };
    const inserted = await this.db
      .insertInto('passkeys')
      .values(row)
      .onConflict((oc) => oc.column('credential_id').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) throw new Conflict('this passkey is already registered');
    await this.audit.write('passkey_added', { userId, details: { passkey_id: row.id } }, ctx, now);
    return info(row);
  }

  async list(userId: number): Promise<PasskeyInfo[]> {
    return (await this.#ofUser(userId)).map(info);
  }

  async count(userId: number): Promise<number> {
    const row = await this.db
      .selectFrom('passkeys')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Renames one of the user's passkeys; 404 for anyone else's. */
  async rename(userId: number, id: string, name: string): Promise<PasskeyInfo> {
    const row = await this.db
      .updateTable('passkeys')
      .set({ name })
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new NotFound('no such passkey');
    return info(row);
  }

  /** Deletes one of the user's passkeys; 404 for anyone else's. */
  async remove(userId: number, id: string, ctx: RequestContext = {}, now = Date.now()): Promise<void> {
    const row = await this.db.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', userId).returning('id').executeTakeFirst();
    if (!row) throw new NotFound('no such passkey');
    await this.audit.write('passkey_removed', { userId, details: { passkey_id: id } }, ctx, now);
  }

  /**
   * Request options for a passwordless sign-in: empty `allowCredentials` (a discoverable credential), or the
   * passkeys of the user `findUser` names. The route looks up usernames only (public handles, SPEC §10): an
   * address, known or not, gets the same empty list, so the answer never tells whether it has an account.
   */
  async loginOptions(
    username: string | undefined,
    findUser: (name: string) => Promise<User | undefined>,
    now = Date.now(),
  ): Promise<{
    options: PublicKeyCredentialRequestOptionsJSON;
    challengeId: string;
  }> {
    const user = username === undefined ? undefined : await findUser(username);
    const allow = user === undefined ? [] : await this.#ofUser(user.id);
    const { generateAuthenticationOptions } = await webauthn();
    const options = await generateAuthenticationOptions({
      rpID: this.config.webauthnRpId,
      timeout: CHALLENGE_TTL_MS,
      // A passwordless sign-in stands for two factors (possession + user verification): UV is required.
      userVerification: 'required',
      allowCredentials: allow.map((row) => this.#descriptor(row)),
    });
    const challengeId = await this.challenges.issue('passkey_login', { userId: null, challenge: options.challenge }, now);
    return { options, challengeId };
  }

  /** Request options for the second step of a sign-in: the user's passkeys, the challenge kept on the `mfa_token`. */
  async secondFactorOptions(mfaToken: string, userId: number, now = Date.now()): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const allow = await this.#ofUser(userId);
    const { generateAuthenticationOptions } = await webauthn();
    const options = await generateAuthenticationOptions({
      rpID: this.config.webauthnRpId,
      timeout: CHALLENGE_TTL_MS,
      userVerification: 'preferred',
      allowCredentials: allow.map((row) => this.#descriptor(row)),
    });
    await this.challenges.attachChallenge(mfaToken, options.challenge, now);
    return options;
  }

  /**
   * Verifies an assertion against `expectedChallenge` and moves the stored counter (compare-and-set).
   * `userId` restricts the passkey to one user (second factor); the owner is returned.
   */
  async verifyAssertion(
    credential: AuthenticationResponseJSON,
    expectedChallenge: string,
    options: { userId?: number; requireUserVerification: boolean },
    now = Date.now(),
  ): Promise<number> {
    if (typeof credential?.id !== 'string') throw new InvalidPasskey('no credential id');
    const row = await this.db.selectFrom('passkeys').selectAll().where('credential_id', '=', credential.id).executeTakeFirst();
    if (!row || (options.userId !== undefined && row.user_id !== options.userId)) throw new InvalidPasskey('unknown passkey');
    const { isoBase64URL, verifyAuthenticationResponse } = await webauthn();
    let result;
    try {
      result = await verifyAuthenticationResponse({
        response: credential,
        expectedChallenge,
        expectedOrigin: [...this.config.webauthnOrigins],
        expectedRPID: this.config.webauthnRpId,
        credential: { ...this.#descriptor(row), publicKey: isoBase64URL.toBuffer(row.public_key), counter: Number(row.counter) },
        requireUserVerification: options.requireUserVerification,
      });
    } catch (error) {
      throw new InvalidPasskey(error instanceof Error ? error.message : 'assertion refused');
    }
    if (!result.verified) throw new InvalidPasskey('assertion refused');
    // The counter moves only from the value just checked: two assertions racing with one counter value
    // cannot both move it (a cloned authenticator shows as a counter that does not increase).
    const moved = await this.db
      .updateTable('passkeys')
      .set({ counter: result.authenticationInfo.newCounter, last_used_at: now })
      .where('id', '=', row.id)
      .where('counter', '=', row.counter)
      .returning('id')
      .executeTakeFirst();
    if (!moved) throw new InvalidPasskey('counter raced');
    return row.user_id;
  }

  async removeAllOfUser(userId: number): Promise<number> {
    const rows = await this.db.deleteFrom('passkeys').where('user_id', '=', userId).returning('id').execute();
    return rows.length;
  }
}
