/**
 * OpenID sign-in (SPEC §7) for every configured provider at `/api/auth/oidc/:provider/...`, and for
 * Google also at `/api/auth/google/...`:
 * - `GET …/login?redirect_to=` → 302 to the provider; the transaction rides in a signed cookie.
 * - `GET …/callback` → signs in, sets the refresh cookie, 302 to `redirect_to` (or the token body
 *   when none was given); a failure goes back to `redirect_to` with `?error=<code>`, or is answered
 *   in the style's error shape when there is no safe place to go. Never an HTML page.
 * - `POST …` with `{code, redirect_uri}` or `{id_token}` → the token body of login.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ValidationFailed } from '../../errors.ts';
import { OidcSignInRefused } from '../../oidc/errors.ts';
import { OidcSignIn } from '../../oidc/sign-in.ts';
import { TRANSACTION_TTL_MS } from '../../oidc/transaction.ts';
import {
  clientAddress,
  REFRESH_COOKIE_PATH,
  type RouteContext,
  requestContext,
  secureCookie,
  sendTokens,
  setRefreshCookie,
  type LatchkeyApp,
} from '../context.ts';
import { mfaResponseSchemas } from '../mfa-schemas.ts';
import { isPending, pendingFragment, sendSignIn } from '../sign-in-reply.ts';
import { toLatchkeyError } from '../errors.ts';
import { responseSchemas } from '../schemas.ts';

const TEXT = { type: 'string', minLength: 1, maxLength: 2048 } as const;
const TOKEN = { type: 'string', minLength: 1, maxLength: 16384 } as const;

const loginQuery = {
  type: 'object',
  properties: {
    redirect_to: { ...TEXT, description: 'Where to send the browser afterwards; its origin must be in LATCHKEY_ALLOWED_REDIRECTS' },
  },
} as const;

const signInBody = {
  type: 'object',
  properties: {
    code: TEXT,
    redirect_uri: TEXT,
    redirectUri: TEXT,
    code_verifier: TEXT,
    codeVerifier: TEXT,
    id_token: TOKEN,
    idToken: TOKEN,
    nonce: TEXT,
  },
  description: 'Either `code` (with `redirect_uri`, default the configured one) or `id_token`; either spelling in either style.',
  examples: [{ code: '4/0Ab…', redirect_uri: 'https://abcdef.chromiumapp.org/' }, { id_token: 'eyJhbGciOiJSUzI1NiIs…' }],
} as const;

export function transactionCookie(providerId: string): string {
  return `latchkey_oidc_${providerId}`;
}

function cookieOptions(request: FastifyRequest) {
  // Lax, not Strict: the cookie must come back on the provider's cross-site redirect to the callback.
  return { httpOnly: true, sameSite: 'lax' as const, path: REFRESH_COOKIE_PATH, secure: secureCookie(request) };
}

/** The `:provider` of `/api/auth/oidc/:provider/…`; the `/api/auth/google/…` routes have none. */
function providerOf(request: FastifyRequest): string {
  const params: unknown = request.params;
  return typeof params === 'object' && params !== null && 'provider' in params && typeof params.provider === 'string'
    ? params.provider
    : 'google';
}

function pathOf(request: FastifyRequest): string {
  return request.url.split('?')[0] ?? '/';
}

/** This server's callback URL as the browser reached `…/login`; used when no redirect URI is configured. */
function derivedCallback(request: FastifyRequest, endpoint: string): string {
  const path = pathOf(request).replace(/\/(login|callback)?\/?$/, '');
  return `${request.protocol}://${request.host}${path}${endpoint}`;
}

function withError(returnTo: string, code: string): string {
  const url = new URL(returnTo);
  url.searchParams.set('error', code);
  return url.href;
}

function isAllowed(oidc: OidcSignIn, returnTo: string): boolean {
  try {
    oidc.allowedReturn(returnTo);
    return true;
  } catch {
    return false;
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof OidcSignInRefused) return error.reason;
  const { error: mapped } = toLatchkeyError(error);
  return mapped.status >= 500 ? 'server_error' : 'invalid_request';
}

function redirectNoStore(reply: FastifyReply, location: string): FastifyReply {
  reply.header('cache-control', 'no-store');
  return reply.redirect(location, 302);
}

export function oidcRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const oidc = new OidcSignIn(ctx.core);
  const docs = responseSchemas(ctx.style);
  const configured = ctx.core.config.oidcProviders.map((p) => p.id);
  const params = {
    type: 'object',
    properties: { provider: { type: 'string', description: `A configured provider id: ${configured.join(', ')}` } },
  } as const;

  // Per client address, before anything else (issue 10 #7): each of these costs a provider round trip
  // or a signature check, and the callback and POST sign a user in.
  const limited = { onRequest: async (request: FastifyRequest) => ctx.core.limiter.beforeOidc(clientAddress(request)) };

  for (const prefix of ['/api/auth/google', '/api/auth/oidc/:provider']) {
    const google = !prefix.includes(':provider');
    const tags = ['sign-in'];
    // Routes of a provider that is not configured still answer (404, unknown provider) but are not listed in /docs.
    const hide = google ? !configured.includes('google') : configured.length === 0;
    const who = google ? 'Google' : 'an OpenID provider';

    app.get(
      `${prefix}/login`,
      {
        schema: {
          tags,
          hide,
          summary: `Start signing in with ${who}`,
          description:
            '302 to the provider with state, nonce and PKCE S256; the transaction is kept in a signed HttpOnly cookie for 10 minutes.',
          ...(google ? {} : { params }),
          querystring: loginQuery,
          response: {
            302: { type: 'null', description: 'To the provider' },
            400: docs.error,
            404: docs.error,
            429: docs.error,
            503: docs.error,
          },
        },
        ...limited,
      },
      async (request, reply) => {
        const id = providerOf(request);
        const returnTo = request.query.redirect_to;
        // Refused before anything else: a bad redirect_to is never redirected to, not even with an error.
        const allowed = returnTo === undefined ? undefined : oidc.allowedReturn(returnTo);
        oidc.providers.get(id);
        let begun: { url: string; cookie: string };
        try {
          begun = await oidc.begin(id, { returnTo: allowed, redirectUri: derivedCallback(request, '/callback') });
        } catch (error) {
          if (allowed === undefined) throw error;
          request.log.warn({ event: 'oidc_sign_in_failed', provider: id, reason: reasonOf(error) }, 'sign-in could not start');
          return redirectNoStore(reply, withError(allowed, reasonOf(error)));
        }
        reply.setCookie(transactionCookie(id), begun.cookie, { ...cookieOptions(request), maxAge: TRANSACTION_TTL_MS / 1000 });
        return redirectNoStore(reply, begun.url);
      },
    );

    app.get(
      `${prefix}/callback`,
      {
        // A top-level redirect from the provider carries no Origin; state, nonce and PKCE bind it to the browser.
        config: { cookie: 'sets' },
        schema: {
          tags,
          hide,
          summary: `The redirect back from ${who}`,
          description:
            'Checks state (once only), exchanges the code, verifies the ID token, signs in and sets the refresh cookie; then 302 to redirect_to, or failures to redirect_to?error=<code>. Without a redirect_to: the token body, or the error body.',
          ...(google ? {} : { params }),
          response: {
            200: docs.tokens,
            302: { type: 'null' },
            400: docs.error,
            401: docs.error,
            403: docs.error,
            404: docs.error,
            429: docs.error,
            503: docs.error,
          },
        },
        ...limited,
      },
      async (request, reply) => {
        const id = providerOf(request);
        const name = transactionCookie(id);
        const transaction = await oidc.openTransaction(id, request.cookies[name]);
        // Single use, whatever happens next.
        reply.clearCookie(name, cookieOptions(request));
        if (transaction === undefined) throw new OidcSignInRefused('invalid_state');
        // Checked again: the origin may have left LATCHKEY_ALLOWED_REDIRECTS since the sign-in began.
        const returnTo = transaction.returnTo !== null && isAllowed(oidc, transaction.returnTo) ? transaction.returnTo : null;
        const url = request.url;
        const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
        let issued;
        try {
          issued = await oidc.complete(transaction, query, requestContext(request));
        } catch (error) {
          const reason = reasonOf(error);
          if (reason === 'server_error') request.log.error({ err: error }, 'unexpected error');
          request.log.warn({ event: 'oidc_sign_in_failed', provider: id, reason }, 'sign-in refused');
          if (returnTo === null) throw error;
          return redirectNoStore(reply, withError(returnTo, reason));
        }
        if (returnTo === null) return sendSignIn(ctx, request, reply, issued);
        // SPEC §11: a second step is due; the browser app finishes it at /mfa/verify (a fragment never reaches servers' logs).
        if (isPending(issued)) return redirectNoStore(reply, `${returnTo}#${pendingFragment(issued)}`);
        request.log.info({ event: 'oidc_sign_in', provider: id, user_id: issued.user.id }, 'signed in');
        setRefreshCookie(request, reply, issued);
        return redirectNoStore(reply, returnTo);
      },
    );

    app.post(
      prefix,
      {
        config: { cookie: 'sets' },
        schema: {
          tags,
          hide,
          summary: `Sign in with ${google ? 'a Google' : 'an'} authorization code or ID token`,
          description:
            '`{code, redirect_uri}` (add `code_verifier` for PKCE and `nonce` if the authorization request had one) or `{id_token}` (optionally `nonce`) → the token body of login.',
          ...(google ? {} : { params }),
          body: signInBody,
          response: {
            200: mfaResponseSchemas(ctx.style).signIn,
            400: docs.error,
            401: docs.error,
            403: docs.error,
            404: docs.error,
            429: docs.error,
            503: docs.error,
          },
        },
        ...limited,
      },
      async (request, reply) => {
        const id = providerOf(request);
        oidc.providers.get(id);
        const body = request.body ?? {};
        const idToken = body.id_token;
        const redirectUri = body.redirect_uri;
        if ((body.code === undefined) === (idToken === undefined)) {
          throw new ValidationFailed([{ field: 'code', message: 'exactly one of code or id_token is required' }]);
        }
        if (redirectUri !== undefined && (!/^https?:\/\/[^/]/i.test(redirectUri) || !URL.canParse(redirectUri))) {
          throw new ValidationFailed([{ field: 'redirect_uri', message: 'must be an absolute http(s) URL' }]);
        }
        const rc = requestContext(request);
        let issued;
        try {
          issued =
            idToken !== undefined
              ? await oidc.verifyIdToken(id, { idToken, nonce: body.nonce }, rc)
              : await oidc.exchangeCode(
                  id,
                  { code: body.code as string, redirectUri, codeVerifier: body.code_verifier, nonce: body.nonce },
                  derivedCallback(request, '/callback'),
                  rc,
                );
        } catch (error) {
          request.log.warn({ event: 'oidc_sign_in_failed', provider: id, reason: reasonOf(error) }, 'sign-in refused');
          throw error;
        }
        if (!isPending(issued)) request.log.info({ event: 'oidc_sign_in', provider: id, user_id: issued.user.id }, 'signed in');
        return sendSignIn(ctx, request, reply, issued);
      },
    );
  }
}
