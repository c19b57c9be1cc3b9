/**
 * What every route shares: the domain core, the wire style, and the few request/reply helpers that
 * must exist once (client address, Bearer parsing, the refresh cookie, token responses).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IssuedTokens } from '../auth/sessions.ts';
import type { TokenClaims } from '../auth/tokens.ts';
import type { RequestContext } from '../audit.ts';
import { isLoopbackHost } from '../config.ts';
import type { Core } from '../core.ts';
import { MalformedAuthorization, MissingAuthorization } from '../errors.ts';
import type { ResponseMeta, WireStyle } from './styles/style.ts';

export interface RouteContext {
  readonly core: Core;
  readonly style: WireStyle;
}

export const REFRESH_COOKIE = 'latchkey_refresh';
export const REFRESH_COOKIE_PATH = '/api/auth';

export function responseMeta(request: FastifyRequest): ResponseMeta {
  return { requestId: request.id, now: new Date() };
}

/** Who is asking, for sessions and the audit log. `request.ip` honours X-Forwarded-For only with LATCHKEY_TRUST_PROXY. */
export function requestContext(request: FastifyRequest, actorUserId?: number): RequestContext {
  const userAgent = request.headers['user-agent'];
  return {
    ip: request.ip,
    userAgent: typeof userAgent === 'string' ? userAgent : null,
    requestId: request.id,
    ...(actorUserId === undefined ? {} : { actorUserId }),
  };
}

/** The Bearer token of the Authorization header (scheme matched case-insensitively, RFC 7235 §2.1). */
export function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (header === undefined || header === '') throw new MissingAuthorization();
  const match = /^bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i.exec(header);
  if (!match?.[1]) throw new MalformedAuthorization();
  return match[1];
}

/**
 * Verifies the Bearer access token (and its session's revocation); the claims of the caller. Enrolment-only
 * tokens (SPEC §11) are refused unless the route says it takes them.
 */
export function authenticate(ctx: RouteContext, request: FastifyRequest, options: { allowEnrollmentOnly?: boolean } = {}): TokenClaims {
  return ctx.core.sessions.authenticate(bearerToken(request), options);
}

/** Cookies are Secure unless the request came over plain http to a loopback host (local development). */
function secureCookie(request: FastifyRequest): boolean {
  return !(request.protocol === 'http' && isLoopbackHost(request.hostname));
}

export function setRefreshCookie(request: FastifyRequest, reply: FastifyReply, issued: IssuedTokens): void {
  reply.setCookie(REFRESH_COOKIE, issued.refreshToken, {
    httpOnly: true,
    sameSite: 'strict',
    path: REFRESH_COOKIE_PATH,
    secure: secureCookie(request),
    maxAge: Math.max(0, issued.refreshExpiresAt - Math.floor(Date.now() / 1000)),
  });
}

export function clearRefreshCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.clearCookie(REFRESH_COOKIE, { httpOnly: true, sameSite: 'strict', path: REFRESH_COOKIE_PATH, secure: secureCookie(request) });
}

/** A token pair response: the body in the configured style, the refresh cookie, and no caching. */
export function sendTokens(ctx: RouteContext, request: FastifyRequest, reply: FastifyReply, issued: IssuedTokens): unknown {
  setRefreshCookie(request, reply, issued);
  reply.header('cache-control', 'no-store');
  return ctx.style.tokens(issued, responseMeta(request));
}

export function refreshCookie(request: FastifyRequest): string | undefined {
  const value = request.cookies[REFRESH_COOKIE];
  return value === undefined || value === '' ? undefined : value;
}

/** For routes whose body is optional (refresh and logout can work from the cookie alone): no body is `{}`. */
export async function optionalBody(request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {};
}
