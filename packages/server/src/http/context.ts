/**
 * What every route shares: the domain core, the wire style, and the few request/reply helpers that
 * must exist once (client address, Bearer parsing, the refresh cookie, token responses).
 */
import { isIP } from 'node:net';
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyTypeProvider,
  FastifyReply,
  FastifyRequest,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { IssuedTokens } from '../auth/sessions.ts';
import type { TokenClaims } from '../auth/tokens.ts';
import type { RequestContext } from '../audit.ts';
import { isLoopbackHost } from '../config.ts';
import type { Core } from '../core.ts';
import { MalformedAuthorization, MissingAuthorization } from '../errors.ts';
import { cookieUse, jsonOrNoBody } from './cookie-guard.ts';
import type { ResponseMeta, WireStyle } from './styles/style.ts';

export interface RouteContext {
  readonly core: Core;
  readonly style: WireStyle;
}

/** The package's provider applied to a schema, the way Fastify applies a provider itself. */
type Validated<Schema> = (JsonSchemaToTsProvider & { readonly schema: Schema })['validator'];

/**
 * Request bodies, queries and params typed from their `as const` JSON schemas, as
 * @fastify/type-provider-json-schema-to-ts types them. Replies are not typed from the response schemas:
 * those document the style's bodies (and the `null` of a 204), while handlers return what the style
 * rendered, serialised as built (http/app.ts).
 */
export interface LatchkeyTypeProvider extends FastifyTypeProvider {
  readonly validator: Validated<this['schema']>;
  readonly serializer: unknown;
}

/** The app as route groups see it: request bodies, queries and params typed from their JSON schemas. */
export type LatchkeyApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  LatchkeyTypeProvider
>;

/** Adds a group of routes; buildApp registers each group as a Fastify plugin of its own. */
export type RouteInstaller = (app: LatchkeyApp, ctx: RouteContext) => void | Promise<void>;

export const REFRESH_COOKIE = 'latchkey_refresh';
export const REFRESH_COOKIE_PATH = '/api/auth';

export function responseMeta(request: FastifyRequest): ResponseMeta {
  return { requestId: request.id, now: new Date() };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** LATCHKEY_PUBLIC_URL, parsed once (decorated by buildApp). */
    readonly latchkeyPublicUrl: URL;
  }
}

/**
 * The one place that decides the client address (rate limits, sessions, audit). `request.ip` is the rightmost
 * X-Forwarded-For entry that LATCHKEY_TRUST_PROXY does not trust; a value there that is not an IP address
 * (a proxy passing on junk) is never used: the nearest hop that reported it stands in for it.
 */
export function clientAddress(request: FastifyRequest): string {
  if (isIP(request.ip) !== 0) return request.ip;
  const hops = request.ips ?? [];
  for (let i = hops.length - 2; i >= 0; i--) {
    const hop = hops[i];
    if (hop !== undefined && isIP(hop) !== 0) return hop;
  }
  return request.socket.remoteAddress ?? '0.0.0.0';
}

/** Who is asking, for sessions and the audit log. */
export function requestContext(request: FastifyRequest, actorUserId?: number): RequestContext {
  const userAgent = request.headers['user-agent'];
  return {
    ip: clientAddress(request),
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

/**
 * Cookies are Secure unless the request really came over plain http (X-Forwarded-Proto counts only from a trusted
 * proxy) to a deployment whose LATCHKEY_PUBLIC_URL is plain http on a loopback host (local development). The
 * `Host` header is the client's to write, so it decides nothing.
 */
export function secureCookie(request: FastifyRequest): boolean {
  const publicUrl = request.server.latchkeyPublicUrl;
  return !(request.protocol === 'http' && publicUrl.protocol === 'http:' && isLoopbackHost(publicUrl.hostname));
}

/** Sets the refresh cookie, unless the request is cookie-less (a body that is not JSON: see cookie-guard.ts). */
export function setRefreshCookie(request: FastifyRequest, reply: FastifyReply, issued: IssuedTokens): void {
  if (cookieUse(request) !== 'sets')
    throw new Error(`${request.routeOptions.url ?? 'route'} sets the refresh cookie without config.cookie = 'sets'`);
  if (!jsonOrNoBody(request)) return;
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

/** The refresh cookie, unless the request is cookie-less (a body that is not JSON: see cookie-guard.ts). */
export function refreshCookie(request: FastifyRequest): string | undefined {
  if (cookieUse(request) === undefined)
    throw new Error(`${request.routeOptions.url ?? 'route'} reads the refresh cookie without config.cookie`);
  if (!jsonOrNoBody(request)) return undefined;
  const value = request.cookies[REFRESH_COOKIE];
  return value === undefined || value === '' ? undefined : value;
}

/** For routes whose body is optional (refresh and logout can work from the cookie alone): no body is `{}`. */
export async function optionalBody(request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {};
}
