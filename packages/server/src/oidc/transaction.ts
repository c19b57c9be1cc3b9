/**
 * The browser sign-in transaction (state, nonce, PKCE verifier, where to go back to), kept in the
 * user's browser as a short-lived cookie bound to one provider and signed with @fastify/cookie's signer
 * (HMAC-SHA256, checked in constant time) under a key of its own, and the single-use rule
 * for its `state`, kept in the database so that every instance refuses a replay.
 *
 * @example
 *   const value = transactions.seal(tx);
 *   const tx = transactions.open(value, 'google'); // undefined when forged, expired or for another provider
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import type { Kysely } from 'kysely';
import { openSecret, sealSecret } from '../auth/keys.ts';
import { isUniqueViolation } from '../store/errors.ts';
import type { Database } from '../store/schema.ts';

/** How long a user may take at the provider (SPEC §7: short-lived). */
export const TRANSACTION_TTL_MS = 10 * 60_000;

export interface SignInTransaction {
  readonly provider: string;
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** The redirect_uri sent to the provider; the token request must repeat it exactly. */
  readonly redirectUri: string;
  /** An allowed origin's URL to return to, or null to answer with the token body. */
  readonly returnTo: string | null;
  /** Epoch ms. */
  readonly expiresAt: number;
}

const SECRET_NAME = 'oidc_transaction_hmac';

/** The HMAC key: 256 random bits created once in the database, so all instances share it. */
export async function loadTransactionKey(db: Kysely<Database>, encryptionSecret: string | undefined, now = Date.now()): Promise<Buffer> {
  const existing = await db.selectFrom('server_secrets').select('secret').where('name', '=', SECRET_NAME).executeTakeFirst();
  if (existing) return Buffer.from(openSecret(existing.secret, encryptionSecret), 'base64url');
  const secret = sealSecret(randomBytes(32).toString('base64url'), encryptionSecret);
  // Two instances starting at once: the first insert wins and both read it back.
  await db
    .insertInto('server_secrets')
    .values({ name: SECRET_NAME, secret, created_at: now })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await db.selectFrom('server_secrets').select('secret').where('name', '=', SECRET_NAME).executeTakeFirstOrThrow();
  return Buffer.from(openSecret(row.secret, encryptionSecret), 'base64url');
}

export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

interface Packed {
  p: string;
  s: string;
  n: string;
  v: string;
  u: string;
  r: string | null;
  e: number;
}

export class TransactionCodec {
  // The key signs nothing but these cookies (its own row in server_secrets), so no label is needed.
  readonly #signer: ReturnType<typeof fastifyCookie.signerFactory>;

  constructor(key: Buffer) {
    this.#signer = fastifyCookie.signerFactory(key, 'sha256');
  }

  seal(tx: SignInTransaction): string {
    const packed: Packed = {
      p: tx.provider,
      s: tx.state,
      n: tx.nonce,
      v: tx.codeVerifier,
      u: tx.redirectUri,
      r: tx.returnTo,
      e: tx.expiresAt,
    };
    return this.#signer.sign(Buffer.from(JSON.stringify(packed)).toString('base64url'));
  }

  /** The transaction, or undefined when the value is forged, malformed, expired or for another provider. */
  open(value: string | undefined, provider: string, now = Date.now()): SignInTransaction | undefined {
    if (value === undefined) return undefined;
    const { valid, value: payload } = this.#signer.unsign(value);
    if (!valid || payload === null) return undefined;
    let packed: Packed;
    try {
      packed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Packed;
    } catch {
      return undefined;
    }
    // A transaction started for one provider must not complete at another (mix-up, RFC 9700 §4.4).
    if (packed.p !== provider || typeof packed.e !== 'number' || packed.e <= now) return undefined;
    return {
      provider: packed.p,
      state: packed.s,
      nonce: packed.n,
      codeVerifier: packed.v,
      redirectUri: packed.u,
      returnTo: packed.r,
      expiresAt: packed.e,
    };
  }
}

/** Constant-time string equality (the state comes from the attacker-controlled query string). */
export function sameString(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

/**
 * Marks a state as used; false when it already was (a replayed callback). The unique key decides, so
 * two instances racing on one state let exactly one through.
 */
export async function spendState(db: Kysely<Database>, state: string, expiresAt: number, now = Date.now()): Promise<boolean> {
  await db.deleteFrom('oidc_spent_states').where('expires_at', '<', now).execute();
  try {
    await db
      .insertInto('oidc_spent_states')
      .values({ state_hash: createHash('sha256').update(state).digest('base64url'), expires_at: expiresAt })
      .execute();
    return true;
  } catch (error) {
    if (isUniqueViolation(error)) return false;
    throw error;
  }
}
