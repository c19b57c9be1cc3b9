/**
 * OpenID sign-in (SPEC §7): the browser flow (authorization code with state, nonce and PKCE S256, the
 * transaction in a signed cookie) and the API flows for apps that talk to the provider themselves
 * (`{code, redirect_uri}` and `{id_token}`). Every path ends in {@link OidcSignIn.signIn}: identity
 * rules, then a session like a password login's.
 *
 * @example
 *   const { url, transaction } = await oidc.begin('google', { returnTo, redirectUri });
 *   // … the provider sends the browser back …
 *   const issued = await oidc.complete(transaction, callbackQuery, ctx);
 */
import { createHash } from 'node:crypto';
import type * as client from 'openid-client';
import type { JWTPayload } from 'jose';
import type { RequestContext } from '../audit.ts';
import type { IssuedTokens } from '../auth/sessions.ts';
import type { PendingSignIn } from '../mfa/sign-in.ts';
import { CLOCK_SKEW_MS, CLOCK_SKEW_S } from '../clock.ts';
import type { Core } from '../core.ts';
import { LatchkeyError } from '../errors.ts';
import { OidcSignInRefused } from './errors.ts';
import { type AssertedIdentity, IdentityLinker, isVerified } from './identities.ts';
import { type OidcLibraries, type OidcProvider, ProviderRegistry, oidcLibraries } from './providers.ts';
import {
  type SignInTransaction,
  TRANSACTION_TTL_MS,
  TransactionCodec,
  loadTransactionKey,
  randomToken,
  sameString,
  spendState,
} from './transaction.ts';

export interface CodeExchange {
  readonly code: string;
  /** The redirect_uri the app used at the provider; defaults to the provider's configured one. */
  readonly redirectUri: string | undefined;
  /** PKCE verifier, when the app sent a code_challenge (public clients must). */
  readonly codeVerifier: string | undefined;
  /** The nonce the app sent, if any: the ID token must then carry exactly it. */
  readonly nonce: string | undefined;
}

/** Maps openid-client's failures of a code exchange to why the sign-in is refused. */
function exchangeFailure(client: OidcLibraries['client'], error: unknown): LatchkeyError {
  if (error instanceof LatchkeyError) return error;
  if (error instanceof client.AuthorizationResponseError) return new OidcSignInRefused('access_denied');
  if (error instanceof client.ResponseBodyError) return new OidcSignInRefused('invalid_grant');
  const code = (error as { code?: unknown }).code;
  if (error instanceof client.ClientError && code !== 'OAUTH_RESPONSE_IS_NOT_CONFORM' && code !== 'OAUTH_RESPONSE_IS_NOT_JSON') {
    // The ID token's signature, issuer, audience, expiry or nonce, or the response's own checks.
    return new OidcSignInRefused('invalid_id_token');
  }
  return new OidcSignInRefused('provider_unavailable');
}

export class OidcSignIn {
  readonly providers: ProviderRegistry;
  readonly #linker: IdentityLinker;
  #codec: Promise<TransactionCodec> | undefined;

  constructor(private readonly core: Core) {
    this.providers = new ProviderRegistry(core.config.oidcProviders);
    this.#linker = new IdentityLinker(core.store.db, core.users, core.audit, core.sessions);
  }

  #transactions(): Promise<TransactionCodec> {
    this.#codec ??= loadTransactionKey(this.core.store.db, this.core.config.keyEncryptionSecret)
      .then((key) => new TransactionCodec(key))
      .catch((error: unknown) => {
        this.#codec = undefined;
        throw error;
      });
    return this.#codec;
  }

  /**
   * Where a browser may be sent back to: an absolute http(s) URL whose origin is in
   * LATCHKEY_ALLOWED_REDIRECTS (an open redirect would hand the refresh cookie's session to phishers).
   */
  allowedReturn(value: string): string {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new OidcSignInRefused('redirect_not_allowed');
    }
    const { config } = this.core;
    // Latchkey's own hosted pages (SPEC §12) are always a place to come back to.
    const ownPages = config.ui && url.origin === new URL(config.publicUrl).origin && url.pathname.startsWith('/ui/');
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || !(ownPages || config.allowedRedirects.includes(url.origin))) {
      throw new OidcSignInRefused('redirect_not_allowed');
    }
    return url.href;
  }

  /** Starts a browser sign-in: the provider's authorization URL and the transaction cookie's value. */
  async begin(
    providerId: string,
    options: { returnTo: string | undefined; redirectUri: string },
  ): Promise<{ url: string; cookie: string }> {
    const provider = this.providers.get(providerId);
    const returnTo = options.returnTo === undefined ? null : this.allowedReturn(options.returnTo);
    const configuration = await provider.configuration();
    const { client } = await oidcLibraries();
    const transaction: SignInTransaction = {
      provider: provider.id,
      state: randomToken(),
      nonce: randomToken(),
      codeVerifier: client.randomPKCECodeVerifier(),
      redirectUri: provider.config.redirectUri ?? options.redirectUri,
      returnTo,
      expiresAt: Date.now() + TRANSACTION_TTL_MS,
    };
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: transaction.redirectUri,
      scope: provider.config.scopes.join(' '),
      state: transaction.state,
      nonce: transaction.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(transaction.codeVerifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, cookie: (await this.#transactions()).seal(transaction) };
  }

  /** The transaction of a callback's cookie, or undefined when missing, forged, expired or for another provider. */
  async openTransaction(providerId: string, cookie: string | undefined): Promise<SignInTransaction | undefined> {
    this.providers.get(providerId);
    return (await this.#transactions()).open(cookie, providerId);
  }

  /** Finishes a browser sign-in: state (once only), code exchange, ID token, identity, session. */
  async complete(transaction: SignInTransaction, query: URLSearchParams, ctx: RequestContext): Promise<IssuedTokens | PendingSignIn> {
    const provider = this.providers.get(transaction.provider);
    const state = query.get('state');
    if (state === null || !sameString(state, transaction.state)) throw new OidcSignInRefused('invalid_state');
    // Spent before the exchange, so that a replayed callback never reaches the provider twice.
    if (!(await spendState(this.core.store.db, transaction.state, transaction.expiresAt))) throw new OidcSignInRefused('invalid_state');
    const callback = new URL(transaction.redirectUri);
    callback.search = '';
    for (const [key, value] of query) callback.searchParams.append(key, value);
    return this.#exchange(
      provider,
      callback,
      {
        pkceCodeVerifier: transaction.codeVerifier,
        expectedState: transaction.state,
        expectedNonce: transaction.nonce,
      },
      ctx,
    );
  }

  /** `POST /api/auth/google {code, redirect_uri}`: the app ran the authorization request itself. */
  async exchangeCode(
    providerId: string,
    input: CodeExchange,
    defaultRedirectUri: string,
    ctx: RequestContext,
  ): Promise<IssuedTokens | PendingSignIn> {
    const provider = this.providers.get(providerId);
    const configuration = await provider.configuration();
    const callback = new URL(input.redirectUri ?? provider.config.redirectUri ?? defaultRedirectUri);
    callback.search = '';
    callback.hash = '';
    callback.searchParams.set('code', input.code);
    // RFC 9207's `iss` guards the app that received the redirect against mix-up; it checked it, not us.
    const metadata = configuration.serverMetadata();
    if (metadata.authorization_response_iss_parameter_supported) callback.searchParams.set('iss', metadata.issuer);
    return this.#exchange(
      provider,
      callback,
      {
        ...(input.codeVerifier === undefined ? {} : { pkceCodeVerifier: input.codeVerifier }),
        ...(input.nonce === undefined ? {} : { expectedNonce: input.nonce }),
        idTokenExpected: true,
      },
      ctx,
    );
  }

  async #exchange(
    provider: OidcProvider,
    callback: URL,
    checks: client.AuthorizationCodeGrantChecks,
    ctx: RequestContext,
  ): Promise<IssuedTokens | PendingSignIn> {
    const configuration = await provider.configuration();
    const { client } = await oidcLibraries();
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(configuration, callback, checks);
    } catch (error) {
      throw exchangeFailure(client, error);
    }
    const claims = tokens.claims();
    if (claims === undefined) throw new OidcSignInRefused('invalid_id_token');
    await this.#spendIdToken(provider, claims, tokens.id_token ?? '');
    let asserted: Record<string, unknown> = claims;
    if (claims.email === undefined) {
      // Providers that follow OpenID Connect Core §5.4 to the letter put the email in UserInfo only.
      try {
        asserted = { ...(await client.fetchUserInfo(configuration, tokens.access_token, claims.sub)), ...claims };
      } catch (error) {
        throw exchangeFailure(client, error);
      }
    }
    return this.signIn(provider, identityOf(provider, claims.sub, asserted), ctx);
  }

  /**
   * `POST /api/auth/google {id_token}` (a Google Identity Services credential): the signature against the
   * provider's JWKS, issuer, audience = our client id, expiry, and the nonce when one is given.
   */
  async verifyIdToken(
    providerId: string,
    input: { idToken: string; nonce: string | undefined },
    ctx: RequestContext,
  ): Promise<IssuedTokens | PendingSignIn> {
    const provider = this.providers.get(providerId);
    const { jose } = await oidcLibraries();
    let payload: JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(input.idToken, await provider.jwks(), {
        issuer: provider.acceptedIssuers,
        audience: provider.config.clientId,
        algorithms: await provider.idTokenAlgorithms(),
        // The skew SPEC §3 allows for our own tokens, allowed for the provider's too.
        clockTolerance: CLOCK_SKEW_S,
        requiredClaims: ['sub', 'iat', 'exp'],
      }));
    } catch (error) {
      if (error instanceof LatchkeyError) throw error;
      const unreachable = error instanceof jose.errors.JWKSTimeout || !(error instanceof jose.errors.JOSEError);
      throw new OidcSignInRefused(unreachable ? 'provider_unavailable' : 'invalid_id_token');
    }
    // OpenID Connect Core §3.1.3.7: with several audiences, azp must name us.
    if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== provider.config.clientId) {
      throw new OidcSignInRefused('invalid_id_token');
    }
    if (input.nonce !== undefined && (typeof payload.nonce !== 'string' || !sameString(payload.nonce, input.nonce))) {
      throw new OidcSignInRefused('invalid_id_token');
    }
    await this.#spendIdToken(provider, payload, input.idToken);
    return this.signIn(provider, identityOf(provider, payload.sub as string, payload), ctx);
  }

  /**
   * Refuses an ID token issued in the future (beyond the skew: oauth4webapi checks only the past) and one
   * already used (issue 10 #7, #19): it is remembered by its `jti` (or, without one, by a hash of what its
   * signature covers, `header.payload`, which only its issuer can make again) among the spent sign-in states
   * until it expires, so a captured `id_token` cannot be posted again, on any instance. Not by the whole
   * token: the last character of a base64url signature has spare bits that decoders ignore, so one
   * signature can be spelt several ways and each spelling verifies.
   */
  async #spendIdToken(
    provider: OidcProvider,
    claims: { readonly iat?: unknown; readonly exp?: unknown; readonly jti?: unknown },
    token: string,
  ): Promise<void> {
    const now = Date.now();
    if (typeof claims.iat !== 'number' || claims.iat * 1000 > now + CLOCK_SKEW_MS) throw new OidcSignInRefused('invalid_id_token');
    const signed = token.slice(0, token.lastIndexOf('.'));
    const id = typeof claims.jti === 'string' ? `jti|${claims.jti}` : `signed|${createHash('sha256').update(signed).digest('base64url')}`;
    const expiresAt = (typeof claims.exp === 'number' ? claims.exp * 1000 : now) + CLOCK_SKEW_MS;
    if (!(await spendState(this.core.store.db, `id_token|${provider.config.issuer}|${id}`, expiresAt, now))) {
      throw new OidcSignInRefused('invalid_id_token');
    }
  }

  /** Identity rules (verified email, domain, linking), then a session; audited as `oidc_sign_in`. */
  async signIn(provider: OidcProvider, identity: AssertedIdentity, ctx: RequestContext): Promise<IssuedTokens | PendingSignIn> {
    const { user, outcome } = await this.#linker.resolve(provider.config, identity, ctx);
    // SPEC §11: a user with a second factor (or obliged to enrol one) finishes at /mfa/verify.
    const pending = await this.core.mfa.secondStep.afterPrimary(user, 'fed', ctx);
    if (pending !== undefined) return pending;
    // start() records the login in the statement that checks the account is still as it was read.
    const issued = await this.core.sessions.start(user, ctx, Date.now(), { proof: { amr: ['fed'] } });
    this.core.metrics.logins.inc({ outcome: 'success' });
    await this.core.audit.write(
      'oidc_sign_in',
      { userId: user.id, sessionId: issued.sessionId, details: { provider: provider.id, outcome } },
      ctx,
    );
    return issued;
  }
}

/** The identity claims, keyed by the configured issuer (the one a provider's tokens are checked against). */
function identityOf(provider: OidcProvider, subject: string, claims: Record<string, unknown>): AssertedIdentity {
  return {
    issuer: provider.config.issuer,
    subject,
    email: typeof claims.email === 'string' && claims.email !== '' ? claims.email : undefined,
    emailVerified: isVerified(claims.email_verified),
    hostedDomain: typeof claims.hd === 'string' ? claims.hd : undefined,
  };
}
