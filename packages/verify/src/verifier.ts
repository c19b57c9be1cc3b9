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
import { type JsonWebKey, createPublicKey } from 'node:crypto';
import { createDecoder, createVerifier as createJwtVerifier } from 'fast-jwt';
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

/**
 * JWKS fetches for kids missing from the last set: at most one per this interval, whichever kids ask, so that
 * forged kids cannot flood Latchkey. The interval is shared but the answer is not: a kid asked for within it is
 * looked up in the set just fetched, so a forged kid's miss never refuses a real key that set holds.
 */
const JWKS_REFETCH_MS = 1000;
/**
 * A kid missing from the set its own miss fetched is refused without a fetch for this long, so that a flood of
 * one forged kid costs Latchkey a fetch per 5 s rather than one a second. Short, because a key rotated in with
 * `keys rotate --now` reaches the JWKS of every Latchkey instance only at its next key reload.
 */
const ABSENT_KID_MS = 5000;
/** A JWKS fetch that takes longer fails, rather than keeping every token waiting on it. */
const JWKS_TIMEOUT_MS = 5000;
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

type Jwk = Readonly<Record<string, unknown>>;

/** A checker for `jwk`, whose own algorithm is the only one allowed. */
function checkerOf(options: VerifierOptions, jwk: Jwk): CheckSignature {
  // It must be asymmetric: a public key is never used as an HMAC secret (the RS256 → HS256 confusion attack).
  const keyAlg = jwk.alg;
  if (typeof keyAlg !== 'string' || !ASYMMETRIC.has(keyAlg)) throw invalidToken('key without an asymmetric alg');
  const pem = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
    .export({ format: 'pem', type: 'spki' })
    .toString();
  return compile(options, pem, keyAlg);
}

/**
 * The signature checker for a token's `kid`, from the JWKS. The whole set is fetched at once (one fetch answers
 * every kid it holds) and trusted for `ttlMs`; while fetching it again fails (Latchkey restarting), it serves about
 * one TTL more, as get-jwks's stale cache did: known keys keep verifying through a short outage, but not forever.
 */
class JwksKeys {
  /** The last set fetched, by kid. */
  #keys: ReadonlyMap<string, Jwk> = new Map();
  /** Compiled on first use; a key unchanged by a fetch keeps its checker and the tokens that checker remembers. */
  readonly #checkers = new WeakMap<Jwk, CheckSignature>();
  /** When `#keys` was fetched. */
  #fetchedAt = -Infinity;
  /** When the last fetch started, whether or not it succeeded: the start of the {@link JWKS_REFETCH_MS} interval. */
  #lastFetch = -Infinity;
  /** The fetch under way, which every miss meanwhile waits for rather than starting its own. */
  #fetching: Promise<boolean> | undefined;
  /** Kid → until when it is refused without a fetch ({@link ABSENT_KID_MS}). */
  readonly #absent = new Map<string, number>();

  constructor(
    private readonly options: VerifierOptions,
    private readonly url: string,
    private readonly ttlMs: number,
  ) {}

  async checker(kid: string): Promise<CheckSignature> {
    const listed = this.#keys.has(kid);
    if (!listed && (this.#absent.get(kid) ?? 0) > Date.now()) throw invalidToken('unknown key');
    if (!listed || Date.now() - this.#fetchedAt >= this.ttlMs) await this.#refresh(kid);
    // By kid alone: the token's header does not get to choose the algorithm; the key does.
    const jwk = Date.now() - this.#fetchedAt < 2 * this.ttlMs ? this.#keys.get(kid) : undefined;
    if (jwk === undefined) throw invalidToken('unknown key');
    let check = this.#checkers.get(jwk);
    if (check === undefined) {
      check = checkerOf(this.options, jwk);
      this.#checkers.set(jwk, check);
    }
    return check;
  }

  /**
   * Fetches the set again for `kid`, unless a fetch is under way (joined: it may bring the key) or one started
   * within {@link JWKS_REFETCH_MS} (the set it brought is as fresh as Latchkey is asked for).
   */
  async #refresh(kid: string): Promise<void> {
    if (this.#fetching !== undefined) {
      await this.#fetching;
      return;
    }
    if (Date.now() - this.#lastFetch < JWKS_REFETCH_MS) return;
    this.#lastFetch = Date.now();
    this.#fetching = this.#fetch().finally(() => {
      this.#fetching = undefined;
    });
    if (!(await this.#fetching) || this.#keys.has(kid)) return;
    // Only the kid that started a fetch is remembered (and expired ones dropped): at most one a second, so a
    // stream of made-up kids cannot grow the map.
    const now = Date.now();
    for (const [absent, until] of this.#absent) if (until <= now) this.#absent.delete(absent);
    this.#absent.set(kid, now + ABSENT_KID_MS);
  }

  /** Replaces the set with Latchkey's current one; false, the last set kept, when that fails. */
  async #fetch(): Promise<boolean> {
    let listed: unknown;
    try {
      const response = await fetch(this.url, { signal: AbortSignal.timeout(JWKS_TIMEOUT_MS) });
      const body: unknown = await response.json();
      if (!response.ok || typeof body !== 'object' || body === null) return false;
      listed = (body as { keys?: unknown }).keys;
    } catch {
      return false;
    }
    if (!Array.isArray(listed)) return false;
    const keys = new Map<string, Jwk>();
    for (const jwk of listed as unknown[]) {
      if (typeof jwk !== 'object' || jwk === null) continue;
      const { kid } = jwk as Jwk;
      // The first of two keys with one kid wins, as with get-jwks.
      if (typeof kid !== 'string' || keys.has(kid)) continue;
      const previous = this.#keys.get(kid);
      keys.set(kid, previous !== undefined && JSON.stringify(previous) === JSON.stringify(jwk) ? previous : (jwk as Jwk));
    }
    this.#keys = keys;
    this.#fetchedAt = Date.now();
    return true;
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
