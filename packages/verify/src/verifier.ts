/**
 * Verifies Latchkey access tokens in a resource server, without a call to Latchkey per request.
 *
 * Strict by construction: one algorithm per key (HS256 for a shared secret; the JWK's own `alg` for a
 * JWKS, never an HMAC check with a public key, never `none`), `typ: JWT`, `token_type: "access"`,
 * `iss` (and `aud` when configured), 30 s clock skew. With a revocation feed, a revoked session's
 * tokens are refused as soon as the feed reports it (within a second of the logout).
 *
 * @example
 *   const verifier = createVerifier({ issuer: 'latchkey', secret: process.env.LATCHKEY_JWT_SECRET });
 *   const { id, username, role } = await verifier.verify(token);
 */
import { createPublicKey } from 'node:crypto';
import { createDecoder, createVerifier as createJwtVerifier } from 'fast-jwt';
import buildGetJwks from 'get-jwks';
import { LatchkeyError, feedUnavailable, invalidToken } from './errors.ts';
// RFC 7519 §4.1.4 leeway, the one Latchkey itself allows.
import { CLOCK_SKEW_MS } from './wire/clock.ts';
import { type FeedStatus, RevocationFeed } from './feed.ts';

export type Role = 'ADMIN' | 'STANDARD';
export type WireStyle = 'flat' | 'envelope';

/** The caller of a request, as middleware exposes it. */
export interface AuthUser {
  readonly id: number;
  readonly username: string;
  readonly role: Role;
}

export interface VerifiedToken extends AuthUser {
  /** The session id: what logout revokes. */
  readonly sid: string;
  /** RFC 8176 methods of the sign-in (`pwd`, `otp`, `hwk`, `user`, `fed`); empty when the token has none. */
  readonly amr: readonly string[];
  /** Unix seconds of the sign-in (`auth_time`), kept across refreshes; undefined when the token has none. */
  readonly authTime: number | undefined;
  /** Every claim of the token. */
  readonly claims: Readonly<Record<string, unknown>>;
}

export interface VerifierOptions {
  /** The `iss` Latchkey puts in tokens (LATCHKEY_ISSUER, `latchkey` by default). */
  readonly issuer: string;
  /** Required `aud` (LATCHKEY_AUDIENCE), when Latchkey is configured with one. */
  readonly audience?: string | undefined;
  /** The HS256 secret (LATCHKEY_JWT_SECRET), used as its raw UTF-8 bytes. */
  readonly secret?: string | undefined;
  /** Latchkey's `/.well-known/jwks.json`, for EdDSA, ES256 and RS256 deployments. */
  readonly jwksUrl?: string | undefined;
  /** How middleware renders 401/403 bodies: Latchkey's LATCHKEY_API_STYLE. Default `flat`. */
  readonly style?: WireStyle | undefined;
  /** Latchkey's `/api/auth/revocations`. Without it, a revoked session's tokens live until their `exp`. */
  readonly revocationFeedUrl?: string | undefined;
  /** LATCHKEY_REVOCATION_FEED_KEY. */
  readonly revocationFeedKey?: string | undefined;
  /** While the feed is disconnected: refuse every token (`closed`, the default) or accept unrevoked-as-known ones (`open`). */
  readonly onFeedDown?: 'closed' | 'open' | undefined;
  /** How long fetched JWKs are trusted before being fetched again. Default 5 minutes, Latchkey's own `max-age`. */
  readonly jwksTtlMs?: number | undefined;
  /** Backoff bounds of the feed's reconnects. */
  readonly feedBackoffMs?: { readonly min: number; readonly max: number } | undefined;
}

export interface Verifier {
  /** Resolves to the caller, or rejects with {@link LatchkeyError} (401, or 503 when the feed is down and failing closed). */
  verify(token: string): Promise<VerifiedToken>;
  readonly style: WireStyle;
  /** `off` without a feed URL. */
  readonly feedStatus: FeedStatus | 'off';
  /** Stops the revocation feed. */
  close(): void;
}

/** An unknown `kid` triggers at most one JWKS fetch per this interval, so forged kids cannot flood Latchkey. */
const UNKNOWN_KID_REFETCH_MS = 1000;
const ASYMMETRIC = new Set(['EdDSA', 'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
const REQUIRED_CLAIMS = ['exp', 'iat', 'iss', 'sub', 'sid', 'token_type', 'user_id'];

type CheckSignature = (token: string) => unknown;

const decodeComplete = createDecoder({ complete: true, checkTyp: 'JWT' });

function compile(options: VerifierOptions, key: string, algorithm: string): CheckSignature {
  return createJwtVerifier({
    key,
    algorithms: [algorithm as 'HS256'],
    allowedIss: options.issuer,
    ...(options.audience === undefined ? {} : { allowedAud: options.audience }),
    clockTolerance: CLOCK_SKEW_MS,
    checkTyp: 'JWT',
    // Without `aud` in the required claims, fast-jwt would accept a token that has none at all.
    requiredClaims: options.audience === undefined ? REQUIRED_CLAIMS : [...REQUIRED_CLAIMS, 'aud'],
    // Services verify the same token on every request: remember verified ones (never past their exp).
    cache: 10_000,
  });
}

/** The signature checker for a token's `kid`, from the JWKS (fetched through get-jwks, which caches). */
class JwksKeys {
  readonly #checkers = new Map<string, { check: CheckSignature; fetchedAt: number }>();
  readonly #getJwks: ReturnType<typeof buildGetJwks>;
  readonly #domain: string;
  #lastMiss = 0;

  constructor(
    private readonly options: VerifierOptions,
    url: string,
    private readonly ttlMs: number,
  ) {
    const parsed = new URL(url);
    this.#domain = parsed.origin + '/';
    this.#getJwks = buildGetJwks({ jwksPath: parsed.pathname + parsed.search, ttl: ttlMs, max: 100 });
  }

  async checker(kid: string): Promise<CheckSignature> {
    const known = this.#checkers.get(kid);
    if (known && Date.now() - known.fetchedAt < this.ttlMs) return known.check;
    if (!known) {
      if (Date.now() - this.#lastMiss < UNKNOWN_KID_REFETCH_MS) throw invalidToken('unknown key');
      this.#lastMiss = Date.now();
    }
    let jwk: Record<string, unknown>;
    try {
      // By kid alone: the token's header does not get to choose the algorithm; the key does.
      jwk = await this.#getJwks.getJwk({ domain: this.#domain, alg: undefined as unknown as string, kid });
    } catch {
      throw invalidToken('unknown key');
    }
    // The key's own algorithm is the only one allowed, and it must be asymmetric: a public key is
    // never used as an HMAC secret (the RS256 → HS256 confusion attack).
    const keyAlg = jwk.alg;
    if (typeof keyAlg !== 'string' || !ASYMMETRIC.has(keyAlg)) throw invalidToken('key without an asymmetric alg');
    const { domain: _d, ...publicJwk } = jwk;
    const pem = createPublicKey({ key: publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' })
      .export({ format: 'pem', type: 'spki' })
      .toString();
    const check = compile(this.options, pem, keyAlg);
    this.#checkers.set(kid, { check, fetchedAt: Date.now() });
    return check;
  }
}

function isRole(value: unknown): value is Role {
  return value === 'ADMIN' || value === 'STANDARD';
}

/** Creates a verifier. Give exactly one of `secret` and `jwksUrl`. */
export function createVerifier(options: VerifierOptions): Verifier {
  if ((options.secret === undefined) === (options.jwksUrl === undefined)) {
    throw new TypeError('createVerifier: give exactly one of secret and jwksUrl');
  }
  if (typeof options.issuer !== 'string' || options.issuer === '') throw new TypeError('createVerifier: issuer is required');
  if (options.secret !== undefined && Buffer.byteLength(options.secret, 'utf8') < 32) {
    throw new TypeError('createVerifier: an HS256 secret is at least 32 bytes (RFC 7518 §3.2)');
  }
  const style: WireStyle = options.style ?? 'flat';
  const failClosed = (options.onFeedDown ?? 'closed') === 'closed';
  const hmac = options.secret === undefined ? undefined : compile(options, options.secret, 'HS256');
  const jwks = options.jwksUrl === undefined ? undefined : new JwksKeys(options, options.jwksUrl, options.jwksTtlMs ?? 300_000);
  const feed =
    options.revocationFeedUrl === undefined
      ? undefined
      : new RevocationFeed({
          url: options.revocationFeedUrl,
          key: options.revocationFeedKey,
          ...(options.feedBackoffMs === undefined
            ? {}
            : { minBackoffMs: options.feedBackoffMs.min, maxBackoffMs: options.feedBackoffMs.max }),
        });
  feed?.start();

  async function checkSignature(token: string): Promise<unknown> {
    if (hmac) return hmac(token);
    let header: { kid?: unknown };
    try {
      header = (decodeComplete(token) as { header: { kid?: unknown } }).header;
    } catch {
      throw invalidToken('malformed token');
    }
    if (typeof header.kid !== 'string') throw invalidToken('no kid');
    const check = await jwks!.checker(header.kid);
    return check(token);
  }

  return {
    style,
    get feedStatus() {
      return feed?.status ?? 'off';
    },
    async verify(token: string): Promise<VerifiedToken> {
      if (typeof token !== 'string' || token === '') throw invalidToken('no token');
      let claims: Record<string, unknown>;
      try {
        claims = (await checkSignature(token)) as Record<string, unknown>;
      } catch (error) {
        if (error instanceof LatchkeyError) throw error;
        throw invalidToken(error instanceof Error ? error.message : 'invalid token');
      }
      // A refresh token is signed by the same key: only the claim tells them apart.
      if (claims.token_type !== 'access') throw invalidToken('not an access token');
      const { user_id: id, username, role, sid } = claims;
      if (!Number.isSafeInteger(id) || typeof username !== 'string' || !isRole(role) || typeof sid !== 'string') {
        throw invalidToken('claims of the wrong shape');
      }
      if (feed) {
        if (feed.status === 'connecting') await feed.firstAttempt();
        if (!feed.connected && failClosed) throw feedUnavailable();
        if (feed.isRevoked(sid)) throw invalidToken('session revoked');
      }
      // An enrolment-only token (LATCHKEY_MFA policy) is good for Latchkey's enrolment endpoints only.
      if (claims.scope !== undefined) throw invalidToken('enrolment-only token');
      const amr = Array.isArray(claims.amr) ? claims.amr.filter((m): m is string => typeof m === 'string') : [];
      const authTime = Number.isSafeInteger(claims.auth_time) ? (claims.auth_time as number) : undefined;
      return { id: id as number, username, role, sid, amr, authTime, claims };
    },
    close() {
      feed?.close();
    },
  };
}
