/**
 * Login CSRF protection for the refresh cookie, as one mechanism that routes opt into with a route config flag:
 *
 *   app.post('/api/auth/login', { config: { cookie: 'sets' }, schema: … }, handler)
 *
 * - `cookie: 'sets'` (the route may answer with the refresh cookie) or `'reads'` (it may act on the cookie):
 *   a request carrying an `Origin` header is refused (403) unless that origin is this server's own (its
 *   LATCHKEY_PUBLIC_URL, or the origin the request itself was addressed to) or one of LATCHKEY_CORS_ORIGINS /
 *   LATCHKEY_ALLOWED_REDIRECTS. Browsers send `Origin` on every cross-origin POST, so a cross-site form or
 *   script cannot plant an attacker's session cookie, nor spend or end the victim's.
 * - A request whose body is not JSON-typed (`text/plain`, a form type: what a cross-site `<form>` can send
 *   without a preflight) is cookie-less: it still gets its tokens in the body (`curl -d` keeps working), but
 *   the refresh cookie is neither set nor read.
 *
 * `setRefreshCookie` and `refreshCookie` refuse to run on a route that did not declare the flag, so a new
 * cookie route cannot forget it.
 */
import type { FastifyRequest, RouteOptions, onRequestHookHandler } from 'fastify';
import type { Config } from '../config.ts';
import { CrossOriginRefused } from '../errors.ts';

export type CookieUse = 'sets' | 'reads';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route sets (`sets`) or acts on (`reads`) the refresh cookie: see http/cookie-guard.ts. */
    cookie?: CookieUse;
  }
}

/** The route's declared use of the refresh cookie, if any. */
export function cookieUse(request: FastifyRequest): CookieUse | undefined {
  return request.routeOptions.config.cookie;
}

/** No body, or a JSON one (`application/json`, `application/*+json`): what a cross-site form cannot send. */
export function jsonOrNoBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  const hasBody = request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  if (!hasBody) return true;
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

/**
 * An `onRoute` hook: gives every route that declares `config.cookie` an `onRequest` hook checking `Origin`.
 * Routes without the flag (most, /verify among them) carry no hook at all.
 */
export function cookieOriginGuard(config: Config): (route: RouteOptions) => void {
  const allowed = new Set([new URL(config.publicUrl).origin, ...config.corsOrigins, ...config.allowedRedirects]);
  const guard: onRequestHookHandler = (request, _reply, done) => {
    const origin = request.headers.origin;
    if (origin === undefined) return done();
    // `null` (a sandboxed frame, a data: URL, some redirects) is never ours.
    const own = `${request.protocol}://${request.host}`;
    if (origin !== 'null' && (allowed.has(origin) || origin === own)) return done();
    done(new CrossOriginRefused());
  };
  return (route) => {
    if ((route.config as { cookie?: CookieUse } | undefined)?.cookie === undefined) return;
    const existing = route.onRequest;
    route.onRequest = existing === undefined ? [guard] : [guard, ...[existing].flat()];
  };
}
