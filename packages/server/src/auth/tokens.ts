/**
 * Issues and verifies Latchkey's JWTs (SPEC §3) with fast-jwt. Verification is strict: the configured
 * algorithm only (never `none`, never an HMAC check with a public key), a known `kid`, `typ: JWT`,
 * the right `token_type`, `iss` and `aud`, and 30 s of clock skew.
 *
 * @example
 *   const tokens = new TokenService(config, keyRing);
 *   const { token, exp } = tokens.issueAccess(user, sid);
 *   tokens.verifyAccess(token).user_id;
 */
import { createDecoder, createSigner, createVerifier } from 'fast-jwt';
import type { Config, Role } from '../config.ts';
import { CLOCK_SKEW_MS } from '../clock.ts';
import { InvalidAccessToken, InvalidRefreshToken } from '../errors.ts';
import { type KeyRing, type SigningKey, retiredKeyAccessExpiry, signsValidAccessTokens } from './keys.ts';

export type TokenType = 'access' | 'refresh';

export interface TokenClaims {
  readonly user_id: number;
  readonly username: string;
  readonly role: Role;
  readonly token_type: TokenType;
  readonly iss: string;
  readonly sub: string;
  readonly iat: number;
  readonly exp: number;
  readonly sid: string;
  readonly jti: string;
  readonly aud?: string;
  /** RFC 8176 authentication methods of the sign-in (access tokens; SPEC §11). */
  readonly amr?: readonly string[];
  /** Unix seconds of the sign-in (access tokens). */
  readonly auth_time?: number;
  /** `mfa_enrollment`: the token only reaches the enrolment endpoints, `/me` and `/logout`. */
  readonly scope?: string;
}

/** Claims that describe the sign-in rather than the token; carried by access tokens. */
export interface SignInClaims {
  readonly amr?: readonly string[];
  readonly auth_time: number;
  readonly scope?: string;
}

export interface TokenSubject {
  readonly id: number;
  readonly username: string;
  readonly role: Role;
}

type Verify = (token: string) => unknown;

interface KeyTools {
  readonly sign: (payload: Record<string, unknown>) => string;
  readonly verifyAccess: Verify;
  readonly verifyRefresh: Verify;
}

const decodeHeader = createDecoder({ complete: true, checkTyp: 'JWT' });

function isClaims(value: unknown, type: TokenType): value is TokenClaims {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return (
    c.token_type === type &&
    Number.isSafeInteger(c.user_id) &&
    typeof c.username === 'string' &&
    (c.role === 'ADMIN' || c.role === 'STANDARD') &&
    typeof c.sid === 'string' &&
    typeof c.jti === 'string' &&
    typeof c.sub === 'string' &&
    Number.isSafeInteger(c.iat) &&
    Number.isSafeInteger(c.exp)
  );
}

/** How many verified access tokens are remembered (about 3 MB at most). */
const VERIFIED_ACCESS_CACHE_SIZE = 10_000;

export class TokenService {
  #tools = new Map<string, KeyTools>();
  #ring!: KeyRing;
  /**
   * Access tokens already verified, by the token itself, each until its `exp` plus the clock skew
   * (exactly when a fresh verification would start refusing it). `/verify` and every Bearer request see
   * the same tokens over and over: a hit skips decoding, the signature and the claim checks. Cleared
   * whenever the key ring changes, so a removed key's tokens are verified (and refused) again.
   */
  #verifiedAccess = new Map<string, { readonly claims: TokenClaims; readonly until: number }>();
  #unknownKeyListener: (() => void) | undefined;

  constructor(
    private readonly config: Config,
    ring: KeyRing,
  ) {
    this.useKeyRing(ring);
  }

  get keyRing(): KeyRing {
    return this.#ring;
  }

  /** Switches to a newly loaded key ring (after `latchkey keys rotate`), keeping compiled tools of known keys. */
  useKeyRing(ring: KeyRing): void {
    const tools = new Map<string, KeyTools>();
    for (const key of ring.keys.values()) tools.set(key.kid, this.#tools.get(key.kid) ?? this.#compile(key));
    this.#tools = tools;
    this.#ring = ring;
    this.#verifiedAccess.clear();
  }

  /** Called when a token names a `kid` this ring does not hold (so the owner can re-read the keys). */
  onUnknownKey(listener: () => void): void {
    this.#unknownKeyListener = listener;
  }

  #compile(key: SigningKey): KeyTools {
    const common = {
      // The allow-list is the key's own algorithm: an RS256 public key can never be used as an HS256 secret.
      algorithms: [key.alg],
      allowedIss: this.config.issuer,
      ...(this.config.audience === undefined ? {} : { allowedAud: this.config.audience }),
      clockTolerance: CLOCK_SKEW_MS,
      checkTyp: 'JWT',
      // fast-jwt checks `aud` only when a token carries one: a configured audience must also be required.
      requiredClaims: [
        'exp',
        'iat',
        'iss',
        'sub',
        'jti',
        'sid',
        'token_type',
        'user_id',
        ...(this.config.audience === undefined ? [] : ['aud']),
      ],
    };
    return {
      // fast-jwt keeps the payload's own iat and exp (no expiresIn is given).
      sign: createSigner({ algorithm: key.alg, key: key.signingKey, kid: key.kid }),
      // Verified access tokens are cached by TokenService itself (see #verifiedAccess).
      verifyAccess: createVerifier({ ...common, key: key.verificationKey }),
      verifyRefresh: createVerifier({ ...common, key: key.verificationKey }),
    };
  }

  #claims(subject: TokenSubject, type: TokenType, sid: string, jti: string, iat: number, exp: number): Record<string, unknown> {
    return {
      user_id: subject.id,
      username: subject.username,
      role: subject.role,
      token_type: type,
      iss: this.config.issuer,
      sub: subject.username,
      iat,
      exp,
      sid,
      jti,
      ...(this.config.audience === undefined ? {} : { aud: this.config.audience }),
    };
  }

  #sign(payload: Record<string, unknown>): string {
    const tools = this.#tools.get(this.#ring.current.kid);
    if (tools === undefined) throw new Error('current signing key is not compiled');
    return tools.sign(payload);
  }

  /** A new access token; `exp` is what responses report as `expires_at` / `expiresAt`. */
  issueAccess(subject: TokenSubject, sid: string, jti: string, now = Date.now(), signIn?: SignInClaims): { token: string; exp: number } {
    const iat = Math.floor(now / 1000);
    const exp = iat + Math.floor(this.config.accessTtlMs / 1000);
    return { token: this.#sign({ ...this.#claims(subject, 'access', sid, jti, iat, exp), ...signIn }), exp };
  }

  /** A refresh token with exactly these `jti`, `iat` and `exp` (seconds): reissuing gives the same claims. */
  issueRefresh(subject: TokenSubject, sid: string, jti: string, iat: number, exp: number): string {
    return this.#sign(this.#claims(subject, 'refresh', sid, jti, iat, exp));
  }

  /** The claims of a valid token of `type`, and when the key that signed it was retired (null: it was not). */
  #verify(token: string, type: TokenType): { claims: TokenClaims; retiredAt: number | null } {
    let kid: unknown;
    try {
      kid = (decodeHeader(token) as { header: { kid?: unknown } }).header.kid;
    } catch {
      throw new Error('malformed token');
    }
    const tools = typeof kid === 'string' ? this.#tools.get(kid) : undefined;
    if (tools === undefined) {
      if (typeof kid === 'string') this.#unknownKeyListener?.();
      throw new Error('unknown key');
    }
    const key = this.#ring.keys.get(kid as string);
    if (type === 'access' && key !== undefined && !signsValidAccessTokens(this.config, key, Date.now())) throw new Error('retired key');
    const claims = type === 'access' ? tools.verifyAccess(token) : tools.verifyRefresh(token);
    if (!isClaims(claims, type)) throw new Error(`not an ${type} token`);
    // fast-jwt checks `iat` only against a maxAge: a token "issued" in the future beyond the skew was not
    // issued by a clock we trust (issue 10 #19).
    if (claims.iat * 1000 > Date.now() + CLOCK_SKEW_MS) throw new Error('issued in the future');
    return { claims, retiredAt: key?.retiredAt ?? null };
  }

  /** Throws {@link InvalidAccessToken} unless `token` is a valid access token. Does not check revocation. */
  verifyAccess(token: string): TokenClaims {
    const cached = this.#verifiedAccess.get(token);
    if (cached !== undefined) {
      if (Date.now() <= cached.until) return cached.claims;
      this.#verifiedAccess.delete(token);
    }
    let claims: TokenClaims;
    let retiredAt: number | null;
    try {
      ({ claims, retiredAt } = this.#verify(token, 'access'));
    } catch (error) {
      throw new InvalidAccessToken(error instanceof Error ? error.message : 'invalid');
    }
    // Oldest first out: a token pushed out is simply verified again on its next use.
    if (this.#verifiedAccess.size >= VERIFIED_ACCESS_CACHE_SIZE) this.#verifiedAccess.delete(this.#verifiedAccess.keys().next().value!);
    // Never kept past the moment its key stops vouching for access tokens (a retired key's cut-off).
    const until = Math.min(
      claims.exp * 1000 + CLOCK_SKEW_MS,
      retiredAt === null ? Infinity : retiredKeyAccessExpiry(this.config, retiredAt),
    );
    this.#verifiedAccess.set(token, { claims, until });
    return claims;
  }

  /** Throws {@link InvalidRefreshToken} unless `token` is a valid refresh token. Does not check the store. */
  verifyRefresh(token: string): TokenClaims {
    try {
      return this.#verify(token, 'refresh').claims;
    } catch (error) {
      throw new InvalidRefreshToken(error instanceof Error ? error.message : 'invalid');
    }
  }
}
