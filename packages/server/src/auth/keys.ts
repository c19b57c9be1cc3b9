/**
 * Signing keys. HS256 uses `LATCHKEY_JWT_SECRET` when given, else a random secret created once and kept
 * in the database; EdDSA, ES256 and RS256 use key pairs generated here and kept in the database.
 * Private material is encrypted at rest (AES-256-GCM) when `LATCHKEY_KEY_ENCRYPTION_SECRET` is set.
 *
 * @example
 *   const ring = await KeyRing.load(db, config);
 *   ring.current.kid; // the key that signs new tokens
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { openSecret, sealSecret } from './sealing.ts';
import type { Kysely } from 'kysely';
import type { AuditLog, RequestContext } from '../audit.ts';
import { CLOCK_SKEW_MS } from '../clock.ts';
import { ConfigError, type Config, type JwtAlg } from '../config.ts';
import type { Database, SigningKeyRow } from '../store/schema.ts';

export interface SigningKey {
  readonly kid: string;
  readonly alg: JwtAlg;
  /** HS256 secret or private key PEM. */
  readonly signingKey: string;
  /** HS256 secret or public key PEM. */
  readonly verificationKey: string;
  /** Public JWK (asymmetric only), with `kid`, `alg` and `use`. */
  readonly publicJwk: Readonly<Record<string, unknown>> | undefined;
  readonly createdAt: number;
  readonly retiredAt: number | null;
  /** After this instant no token signed by the key can still be valid. */
  readonly expiresAt: number | null;
}

// Sealing lives in one module shared with TOTP secrets and server secrets.
export { KeyDecryptionError, openSecret, sealSecret } from './sealing.ts';

/** Creates new key material for `alg`: an HS256 secret or a key pair. */
export function generateKeyMaterial(alg: JwtAlg): { secret: string; publicJwk: Record<string, unknown> | null } {
  if (alg === 'HS256') return { secret: randomBytes(32).toString('base64url'), publicJwk: null };
  const pair =
    alg === 'EdDSA'
      ? generateKeyPairSync('ed25519')
      : alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const secret = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return { secret, publicJwk: pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown> };
}

function fromRow(row: SigningKeyRow, encryptionSecret: string | undefined): SigningKey {
  const alg = row.alg as JwtAlg;
  const secret = openSecret(row.secret, encryptionSecret);
  const jwk = row.public_jwk === null ? undefined : (JSON.parse(row.public_jwk) as Record<string, unknown>);
  const verificationKey =
    jwk === undefined ? secret : createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString();
  return {
    kid: row.kid,
    alg,
    signingKey: secret,
    verificationKey,
    publicJwk: jwk === undefined ? undefined : Object.freeze({ ...jwk, kid: row.kid, alg, use: 'sig' }),
    createdAt: row.created_at,
    retiredAt: row.retired_at,
    expiresAt: row.expires_at,
  };
}

/** The key id of a configured HS256 secret: a short hash, so the secret itself is never revealed. */
function configuredSecretKid(secret: string): string {
  return (
    'hs-' +
    createHash('sha256')
      .update('latchkey-kid\0' + secret)
      .digest('base64url')
      .slice(0, 16)
  );
}

/** Inserts a new signing key for `alg` and returns its kid. */
export async function createSigningKey(db: Kysely<Database>, config: Config, now = Date.now()): Promise<string> {
  const kid = randomBytes(12).toString('base64url');
  const material = generateKeyMaterial(config.jwtAlg);
  await db
    .insertInto('signing_keys')
    .values({
      kid,
      alg: config.jwtAlg,
      secret: sealSecret(material.secret, config.keyEncryptionSecret),
      public_jwk: material.publicJwk === null ? null : JSON.stringify(material.publicJwk),
      created_at: now,
      retired_at: null,
      expires_at: null,
    })
    .execute();
  return kid;
}

/**
 * How long after a key is retired another instance may still sign with it: instances re-read the keys
 * every 30 s, and SPEC §1 promises that a rotation is picked up within 60 s.
 */
export const KEY_PICKUP_MS = 60_000;

/**
 * The longest any token can live: an access token, or a refresh token (whose `exp` never passes the
 * session's absolute end). A grace-period reissue signs with the current key, so it adds nothing.
 */
export function longestTokenLifetimeMs(config: Config): number {
  const refresh = config.sessionMaxAgeMs === 0 ? config.refreshTtlMs : Math.min(config.refreshTtlMs, config.sessionMaxAgeMs);
  return Math.max(config.accessTtlMs, refresh);
}

/** When a key retired at `retiredAt` can no longer have signed a valid token (refresh tokens included). */
export function retiredKeyExpiry(config: Config, retiredAt: number): number {
  return retiredAt + KEY_PICKUP_MS + longestTokenLifetimeMs(config) + CLOCK_SKEW_MS;
}

/**
 * When the last access token a key retired at `retiredAt` may have signed has expired: from then on an access
 * token under that key is refused, and the key leaves the JWKS (resource servers verify access tokens only).
 * Refresh tokens, which only this server verifies and checks against its database, keep the key until
 * {@link retiredKeyExpiry}. After `keys rotate --now` (a leaked key), tokens minted with the leaked key are
 * therefore accepted for an access lifetime at most, not for a refresh lifetime.
 */
export function retiredKeyAccessExpiry(config: Config, retiredAt: number): number {
  return retiredAt + KEY_PICKUP_MS + config.accessTtlMs + CLOCK_SKEW_MS;
}

/** Whether access tokens signed with `key` may still be valid at `now`. */
export function signsValidAccessTokens(config: Config, key: Pick<SigningKey, 'retiredAt'>, now: number): boolean {
  return key.retiredAt === null || now < retiredKeyAccessExpiry(config, key.retiredAt);
}

export interface Rotation {
  /** The new signing key. */
  readonly kid: string;
  readonly alg: JwtAlg;
  /** When the new key starts signing: now plus LATCHKEY_KEY_PUBLISH_DELAY, or now with `--now`. */
  readonly signsFrom: number;
  /** Keys that stop signing at `signsFrom` and keep verifying until `verifyUntil`. */
  readonly retired: readonly string[];
  readonly verifyUntil: number;
  /** Expired keys deleted from the database (their private parts with them). */
  readonly removed: number;
}

export interface RotationOptions {
  /** `keys rotate --now`: sign with the new key at once, skipping the publish delay (a compromised key). */
  readonly immediately?: boolean;
}

/**
 * When a rotation at `now` lets the new key sign. Public keys are published first and signed with later, so
 * that verifiers caching the JWKS (jose's remote set, CDNs) already know the key when its first token arrives
 * (SPEC §3). An HS256 key is never published (other instances read it from the database), so it signs at once.
 */
export function rotationSignsFrom(config: Config, now: number, options: RotationOptions = {}): number {
  return options.immediately === true || config.jwtAlg === 'HS256' ? now : now + config.keyPublishDelayMs;
}

/**
 * `latchkey keys rotate`: a new key is published now and signs from {@link rotationSignsFrom}; until then the
 * current key keeps signing. Every other key of the configured algorithm is retired as of that moment and keeps
 * verifying until the last token it may have signed has expired. With `immediately`, a key already due to retire
 * stops signing now as well. A configured `LATCHKEY_JWT_SECRET` is a fixed key: rotating it means changing the
 * secret, so this refuses.
 */
export async function rotateSigningKeys(
  db: Kysely<Database>,
  config: Config,
  now = Date.now(),
  options: RotationOptions = {},
): Promise<Rotation> {
  if (config.jwtAlg === 'HS256' && config.jwtSecret !== undefined) {
    throw new ConfigError(
      'LATCHKEY_JWT_SECRET',
      'is a fixed HS256 key and cannot be rotated by `keys rotate`; rotate it by changing the secret (tokens signed with the old one stop verifying), or unset it to use rotating keys kept in the database',
    );
  }
  const signsFrom = rotationSignsFrom(config, now, options);
  const verifyUntil = retiredKeyExpiry(config, signsFrom);
  return db.transaction().execute(async (trx) => {
    const removed = await trx.deleteFrom('signing_keys').where('expires_at', '<=', now).executeTakeFirst();
    const retired = await trx
      .updateTable('signing_keys')
      .set({ retired_at: signsFrom, expires_at: verifyUntil })
      .where('alg', '=', config.jwtAlg)
      .where((eb) => (signsFrom === now ? eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', now)]) : eb('retired_at', 'is', null)))
      .returning('kid')
      .execute();
    const kid = await createSigningKey(trx, config, now);
    return { kid, alg: config.jwtAlg, signsFrom, retired: retired.map((r) => r.kid), verifyUntil, removed: Number(removed.numDeletedRows) };
  });
}

/**
 * A rotation an operator asked for (`latchkey keys rotate`, `POST /api/admin/keys/rotate`): {@link rotateSigningKeys}
 * and its `key_rotated` audit event, written here so that both record the same; `ctx` says who asked (the CLI: a
 * null actor).
 */
export async function rotateSigningKeysAudited(
  db: Kysely<Database>,
  config: Config,
  audit: AuditLog,
  ctx: RequestContext,
  options: RotationOptions = {},
  now = Date.now(),
): Promise<Rotation> {
  const rotation = await rotateSigningKeys(db, config, now, options);
  await audit.write(
    'key_rotated',
    { details: { kid: rotation.kid, alg: rotation.alg, retired: rotation.retired.join(','), removed: rotation.removed } },
    ctx,
  );
  return rotation;
}

/** `published`: in the JWKS, signing from a later rotation moment (LATCHKEY_KEY_PUBLISH_DELAY). */
export type KeyState = 'signing' | 'published' | 'verifying' | 'expired' | 'other-algorithm';

export interface KeyListing {
  readonly kid: string;
  readonly alg: string;
  readonly state: KeyState;
  readonly createdAt: number;
  readonly retiredAt: number | null;
  readonly expiresAt: number | null;
}

/** `latchkey keys list`: every stored key, newest first, with what it is used for now. No secret. */
export async function listSigningKeys(db: Kysely<Database>, config: Config, now = Date.now()): Promise<KeyListing[]> {
  if (config.jwtAlg === 'HS256' && config.jwtSecret !== undefined) {
    const key = (await KeyRing.load(db, config, now)).current;
    return [{ kid: key.kid, alg: 'HS256', state: 'signing', createdAt: key.createdAt, retiredAt: null, expiresAt: null }];
  }
  const current = (await KeyRing.load(db, config, now)).current.kid;
  const rows = await db
    .selectFrom('signing_keys')
    .select(['kid', 'alg', 'created_at', 'retired_at', 'expires_at'])
    .orderBy('created_at', 'desc')
    .orderBy('kid', 'desc')
    .execute();
  return rows.map((row) => ({
    kid: row.kid,
    alg: row.alg,
    state:
      row.alg !== config.jwtAlg
        ? 'other-algorithm'
        : row.kid === current
          ? 'signing'
          : row.expires_at !== null && row.expires_at <= now
            ? 'expired'
            : row.retired_at === null
              ? 'published'
              : 'verifying',
    createdAt: row.created_at,
    retiredAt: row.retired_at,
    expiresAt: row.expires_at,
  }));
}

/** The keys that sign and verify tokens, as read from the database (or the configured HS256 secret). */
export class KeyRing {
  private constructor(
    /** The key that signs new tokens. */
    readonly current: SigningKey,
    /** Every key whose tokens may still be valid, the current one included. */
    readonly keys: ReadonlyMap<string, SigningKey>,
  ) {}

  /** Loads the keys for the configured algorithm, creating the first one when there is none. */
  static async load(db: Kysely<Database>, config: Config, now = Date.now()): Promise<KeyRing> {
    if (config.jwtAlg === 'HS256' && config.jwtSecret !== undefined) {
      const key: SigningKey = {
        kid: configuredSecretKid(config.jwtSecret),
        alg: 'HS256',
        signingKey: config.jwtSecret,
        verificationKey: config.jwtSecret,
        publicJwk: undefined,
        createdAt: 0,
        retiredAt: null,
        expiresAt: null,
      };
      return new KeyRing(key, new Map([[key.kid, key]]));
    }
    let rows = await KeyRing.liveRows(db, config, now);
    if (rows.length === 0) {
      await createSigningKey(db, config, now);
      rows = await KeyRing.liveRows(db, config, now);
    }
    const keys = rows.map((row) => fromRow(row, config.keyEncryptionSecret));
    // A key due to retire later (a rotation waiting out LATCHKEY_KEY_PUBLISH_DELAY) keeps signing until then,
    // the one due first if several; otherwise the newest unretired key signs (two instances creating a first
    // key at once settle on the same one).
    const outgoing = keys.filter((k) => k.retiredAt !== null && k.retiredAt > now).sort((a, b) => (a.retiredAt ?? 0) - (b.retiredAt ?? 0));
    const current = outgoing[0] ?? keys.find((k) => k.retiredAt === null) ?? keys[0];
    if (current === undefined) throw new Error('no signing key');
    return new KeyRing(current, new Map(keys.map((k) => [k.kid, k])));
  }

  private static liveRows(db: Kysely<Database>, config: Config, now: number): Promise<SigningKeyRow[]> {
    return db
      .selectFrom('signing_keys')
      .selectAll()
      .where('alg', '=', config.jwtAlg)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .orderBy('created_at', 'desc')
      .orderBy('kid', 'desc')
      .execute();
  }

  /** A fingerprint of the key set and each key's retirement, to tell whether a reload changed anything. */
  get fingerprint(): string {
    const keys = [...this.keys.values()].map((k) => `${k.kid}:${k.retiredAt ?? ''}`).sort();
    return keys.join(',') + '|' + this.current.kid;
  }
}
