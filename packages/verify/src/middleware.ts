/**
 * Middleware for Fastify, Express and Hono over a {@link Verifier}: they read the Bearer token, set
 * `user = { id, username, role }` on the request (Hono: `c.get('user')`), and answer 401 (503 when the
 * revocation feed is down and failing closed) in the configured wire style. `requireRole(role)` follows
 * them and answers 403 to everyone else.
 *
 * No framework is a dependency: the request and reply types below are the few members used.
 *
 * @example
 *   app.addHook('preHandler', fastifyAuth(verifier));                    // Fastify
 *   app.get('/admin', { preHandler: requireRole('ADMIN') }, handler);
 *   app.use(expressAuth(verifier)); app.get('/admin', requireRole('ADMIN'), handler);      // Express
 *   app.use('/api/*', honoAuth(verifier)); app.get('/api/admin', requireRole('ADMIN'), handler); // Hono
 */
import { randomUUID } from 'node:crypto';
import { LatchkeyError, envelopeMessage, forbidden, internalError, malformedAuthorization, missingAuthorization } from './errors.ts';
import type { AuthUser, Role, Verifier, WireStyle } from './verifier.ts';

type HeaderValue = string | string[] | undefined;

/** The Bearer token of an Authorization header; the scheme is matched case-insensitively (RFC 7235 §2.1). */
export function bearerToken(header: HeaderValue): string {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value === '') throw missingAuthorization();
  const match = /^bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i.exec(value);
  if (!match?.[1]) throw malformedAuthorization();
  return match[1];
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

export interface RenderedError {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

/** The response for a verification failure, in Latchkey's wire style (the error table of docs/api.md). */
export function renderError(error: unknown, style: WireStyle, requestId?: HeaderValue): RenderedError {
  const e = error instanceof LatchkeyError ? error : internalError();
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  if (e.status === 401) headers['www-authenticate'] = 'Bearer';
  if (e.status === 503) headers['retry-after'] = '1';
  if (style === 'flat') return { status: e.status, headers, body: { error: e.message } };
  const incoming = Array.isArray(requestId) ? requestId[0] : requestId;
  const id = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
  const timestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    status: e.status,
    headers,
    body: { data: null, error: { code: e.code, message: envelopeMessage(e.message) ?? e.message }, meta: { timestamp, requestId: id } },
  };
}

/** The style of the verifier that authenticated each user, so that requireRole's 403 matches its 401s. */
const styles = new WeakMap<AuthUser, WireStyle>();

/** How each authenticated user signed in, for requireMfa (the `user` object keeps its documented shape). */
const signIns = new WeakMap<AuthUser, { readonly amr: readonly string[]; readonly authTime: number | undefined }>();

async function authenticate(verifier: Verifier, header: HeaderValue): Promise<AuthUser> {
  const { id, username, role, amr, authTime } = await verifier.verify(bearerToken(header));
  const user = { id, username, role };
  styles.set(user, verifier.style);
  signIns.set(user, { amr, authTime });
  return user;
}

/** The `amr` and `auth_time` of the token that authenticated `user` (set by the middleware). */
export function signInOf(user: AuthUser): { readonly amr: readonly string[]; readonly authTime: number | undefined } | undefined {
  return signIns.get(user);
}

// ---- Fastify -------------------------------------------------------------------------------------

interface FastifyRequestLike {
  headers: Record<string, HeaderValue>;
  raw: unknown;
  user?: AuthUser;
}
interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(body: unknown): unknown;
}

/** A Fastify `preHandler`/`onRequest` hook: sets `request.user`, or answers 401. */
export function fastifyAuth(verifier: Verifier) {
  return async function latchkeyAuth(request: FastifyRequestLike, reply: FastifyReplyLike): Promise<void> {
    try {
      request.user = await authenticate(verifier, request.headers.authorization);
    } catch (error) {
      const r = renderError(error, verifier.style, request.headers['x-request-id']);
      await reply.code(r.status).headers(r.headers).send(r.body);
    }
  };
}

// ---- Express -------------------------------------------------------------------------------------

interface ExpressRequestLike {
  headers: Record<string, HeaderValue>;
  user?: AuthUser;
}
interface ExpressResponseLike {
  status(code: number): ExpressResponseLike;
  set(values: Record<string, string>): ExpressResponseLike;
  send(body: unknown): unknown;
}
type Next = (error?: unknown) => void;

/** Express middleware: sets `req.user`, or answers 401. */
export function expressAuth(verifier: Verifier) {
  return function latchkeyAuth(req: ExpressRequestLike, res: ExpressResponseLike, next: Next): void {
    authenticate(verifier, req.headers.authorization).then(
      (user) => {
        req.user = user;
        next();
      },
      (error: unknown) => {
        const r = renderError(error, verifier.style, req.headers['x-request-id']);
        res.status(r.status).set(r.headers).send(JSON.stringify(r.body));
      },
    );
  };
}

// ---- Hono ----------------------------------------------------------------------------------------

interface HonoContextLike {
  req: { header(name: string): string | undefined };
  set(key: 'user', value: AuthUser): void;
  get(key: 'user'): AuthUser | undefined;
  json(body: unknown, status: number, headers: Record<string, string>): Response;
}

/** Hono middleware: `c.set('user', …)`, or answers 401. */
export function honoAuth(verifier: Verifier) {
  return async function latchkeyAuth(c: HonoContextLike, next: () => Promise<void>): Promise<Response | undefined> {
    let user: AuthUser;
    try {
      user = await authenticate(verifier, c.req.header('authorization'));
    } catch (error) {
      const r = renderError(error, verifier.style, c.req.header('x-request-id'));
      return c.json(r.body, r.status, r.headers);
    }
    c.set('user', user);
    await next();
    return undefined;
  };
}

// ---- requireRole ---------------------------------------------------------------------------------

function isHonoContext(value: unknown): value is HonoContextLike {
  const c = value as Partial<HonoContextLike> | null;
  return typeof c === 'object' && c !== null && typeof c.json === 'function' && typeof c.get === 'function' && typeof c.req === 'object';
}
function isFastifyReply(value: unknown): value is FastifyReplyLike {
  const r = value as (Partial<FastifyReplyLike> & { raw?: unknown }) | null;
  return typeof r === 'object' && r !== null && typeof r.code === 'function' && 'raw' in r;
}

/** One guard for the three frameworks: it recognises the arguments each passes and answers `deny`'s error. */
function guard(allowed: (user: AuthUser) => boolean, refusal: (user: AuthUser) => LatchkeyError) {
  const deny = (user: AuthUser | undefined, requestId: HeaderValue): RenderedError =>
    user === undefined
      ? renderError(missingAuthorization(), 'flat', requestId)
      : renderError(refusal(user), styles.get(user) ?? 'flat', requestId);
  const ok = (user: AuthUser | undefined): user is AuthUser => user !== undefined && allowed(user);

  return async function latchkeyGuard(...args: unknown[]): Promise<Response | undefined> {
    const [first, second, third] = args;
    if (isHonoContext(first) && typeof second === 'function') {
      const user = first.get('user');
      if (!ok(user)) {
        const r = deny(user, first.req.header('x-request-id'));
        return first.json(r.body, r.status, r.headers);
      }
      await (second as () => Promise<void>)();
      return undefined;
    }
    if (isFastifyReply(second)) {
      const request = first as FastifyRequestLike;
      if (!ok(request.user)) {
        const r = deny(request.user, request.headers['x-request-id']);
        await second.code(r.status).headers(r.headers).send(r.body);
      }
      return undefined;
    }
    const req = first as ExpressRequestLike;
    const res = second as ExpressResponseLike;
    if (!ok(req.user)) {
      const r = deny(req.user, req.headers['x-request-id']);
      res.status(r.status).set(r.headers).send(JSON.stringify(r.body));
      return undefined;
    }
    (third as Next)();
    return undefined;
  };
}

/**
 * Lets only users of `role` through; put it after `fastifyAuth`, `expressAuth` or `honoAuth`. One function
 * serves the three frameworks: it recognises the arguments each passes. The 403 body is in the style of
 * the verifier that authenticated the user.
 */
export function requireRole(role: Role) {
  return guard(
    (user) => user.role === role,
    (user) => forbidden(`role ${user.role} is not ${role}`),
  );
}

/** RFC 8176 methods that prove a second factor: a one-time code, or a hardware key (a passkey). */
const SECOND_FACTOR_METHODS = new Set(['otp', 'hwk']);

/** Whether a token's `amr` shows multi-factor authentication (SPEC §11: `pwd otp`, `pwd hwk`, `hwk user`, …). */
export function isMultiFactor(amr: readonly string[]): boolean {
  return amr.some((m) => SECOND_FACTOR_METHODS.has(m));
}

/**
 * Lets through only users who signed in with a second factor (or a passkey); put it after `fastifyAuth`,
 * `expressAuth` or `honoAuth`. With `maxAgeSeconds`, the sign-in must also be that recent (`auth_time`),
 * for a step-up before sensitive actions. Everyone else gets 403 in the verifier's style.
 *
 * @example
 *   app.post('/payouts', { preHandler: [fastifyAuth(verifier), requireMfa({ maxAgeSeconds: 900 })] }, handler);
 */
export function requireMfa(options: { maxAgeSeconds?: number } = {}) {
  return guard(
    (user) => {
      const signIn = signIns.get(user);
      if (signIn === undefined || !isMultiFactor(signIn.amr)) return false;
      if (options.maxAgeSeconds === undefined) return true;
      return signIn.authTime !== undefined && Date.now() / 1000 - signIn.authTime <= options.maxAgeSeconds;
    },
    () => forbidden('second factor required'),
  );
}
