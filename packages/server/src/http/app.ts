/**
 * Builds the Fastify app over a {@link Core}. `buildApp` never listens: the CLI does, and tests get a
 * real app in one line.
 *
 * @example
 *   const app = await buildApp(core);
 *   await app.listen({ port: 0 });
 */
import { randomUUID } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import fastifyCors from '@fastify/cors';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyServerOptions,
  LogController,
  type onResponseHookHandler,
} from 'fastify';
import type { TrustProxy } from '../config.ts';
import type { Core } from '../core.ts';
import { MethodNotAllowed, NotFound, RateLimited, RequestTimeout, ValidationFailed } from '../errors.ts';
import { type LatchkeyApp, type LatchkeyTypeProvider, type RouteContext, type RouteInstaller, responseMeta } from './context.ts';
import { ADMIN_PREFIX, adminApi } from './admin.ts';
import { docsPageOptions } from './docs-page.ts';
import { cookieOriginGuard } from './cookie-guard.ts';
import { drainUnreadBody } from './drain.ts';
import { oneInputSpelling } from './input-spelling.ts';
import { toLatchkeyError } from './errors.ts';
import { describeResponses } from './openapi-descriptions.ts';
import { adminAuditRoutes } from './routes/admin-audit.ts';
import { adminKeyRoutes } from './routes/admin-keys.ts';
import { adminFactorRoutes } from './routes/admin-factors.ts';
import { adminUserRoutes } from './routes/admin-users.ts';
import { emailRoutes } from './routes/email.ts';
import { loginRoutes } from './routes/login.ts';
import { logoutRoutes } from './routes/logout.ts';
import { meRoutes } from './routes/me.ts';
import { mfaRoutes } from './routes/mfa.ts';
import { oidcRoutes } from './routes/oidc.ts';
import { operationsRoutes } from './routes/operations.ts';
import { passwordResetRoutes } from './routes/password-reset.ts';
import { passkeyRoutes } from './routes/passkeys.ts';
import { refreshRoutes } from './routes/refresh.ts';
import { registerRoutes } from './routes/register.ts';
import { revocationRoutes } from './routes/revocations.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { uiRoutes } from './routes/ui.ts';
import { verifyRoutes } from './routes/verify.ts';
import { wellKnownRoutes } from './routes/well-known.ts';
import { envelopeStyle } from './styles/envelope.ts';
import { flatStyle } from './styles/flat.ts';
import type { WireStyle } from './styles/style.ts';
import { buildValidator } from './validators.ts';

export const BODY_LIMIT = 64 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Adds routes to the app; other packages of the server plug in here (each group is a plugin of its own). */
export type { RouteInstaller } from './context.ts';

export interface AppOptions {
  /** pino options, or false for no logs. Defaults to JSON logs at the configured level. */
  readonly logger?: FastifyServerOptions['logger'];
  /** Extra route groups. */
  readonly routes?: readonly RouteInstaller[];
  /** Where the built hosted pages are (default: packages/server/ui/dist, what `npm run build` makes). */
  readonly uiDir?: string;
}

/**
 * LATCHKEY_TRUST_PROXY in the shape Fastify's types take. A hop count trusts that many hops nearest to us
 * (hop 0 is the socket peer), so the client is the rightmost X-Forwarded-For entry past them.
 */
function fastifyTrustProxy(trust: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (trust === false) return false;
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  return [...trust];
}

const STYLES: Readonly<Record<'flat' | 'envelope', WireStyle>> = { flat: flatStyle, envelope: envelopeStyle };

export function styleFor(name: 'flat' | 'envelope'): WireStyle {
  return STYLES[name];
}

/** A route the app answers, as registered (the OpenAPI test holds every visible one to the document). */
export interface RegisteredRoute {
  readonly url: string;
  readonly method: string;
  /** `schema.hide`: left out of the OpenAPI document on purpose (the document itself, the /docs page's files). */
  readonly hidden: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered, in order (decorated by buildApp). */
    readonly latchkeyRoutes: readonly RegisteredRoute[];
  }
}

export async function buildApp(core: Core, options: AppOptions = {}): Promise<FastifyInstance> {
  const { config } = core;
  const style = styleFor(config.apiStyle);
  const ctx: RouteContext = { core, style };
  const app = Fastify({
    logger: options.logger ?? {
      level: config.logLevel,
      // Never log headers (Authorization, Cookie) or query strings (OAuth codes).
      serializers: {
        req: (req: { method: string; url: string }) => ({ method: req.method, path: req.url.split('?')[0] }),
        res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      },
    },
    bodyLimit: BODY_LIMIT,
    trustProxy: fastifyTrustProxy(config.trustProxy),
    // A body trickled a byte at a time must not hold a connection (and its parser) forever: the whole request
    // has LATCHKEY_REQUEST_TIMEOUT, and a silent connection LATCHKEY_CONNECTION_TIMEOUT (SSE heartbeats keep the
    // revocation feed busy). Node checks the request deadline on an interval: make it a fraction of the deadline.
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.connectionTimeoutMs,
    // Node enforces the request deadline only when the headers deadline is no longer than it.
    http: {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: Math.min(60_000, config.requestTimeoutMs),
      connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(config.requestTimeoutMs / 4))),
    },
    // Per-request lines ("incoming request", "request completed") only when asked for: security events
    // (login_failed, rate_limited, refresh_token_reuse) and errors are logged by our own code either way.
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: !config.accessLog }),
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: false } },
    // Validators compiled once per process, not once per app (validators.ts).
    schemaController: { compilersFactory: { buildValidator } },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A path that does not decode (`/%zz`) or an over-long path parameter never reaches a route, a hook
    // or the error handler; without this, Fastify answers in its own body shape and without a request id.
    // Bytes that are not HTTP (a malformed header, headers over the size limit) never become a request;
    // they still get a JSON answer in the style's shape rather than Node's or Fastify's own.
    clientErrorHandler: (error, socket) => {
      if (!socket.writable) return socket.destroy();
      const code = (error as NodeJS.ErrnoException).code;
      const overflow = code === 'HPE_HEADER_OVERFLOW';
      const timedOut = code === 'ERR_HTTP_REQUEST_TIMEOUT';
      const rendered = style.error(
        timedOut
          ? new RequestTimeout()
          : overflow
            ? new ValidationFailed([{ field: 'headers', message: 'request headers are too large' }])
            : new ValidationFailed([{ field: 'request', message: 'malformed HTTP request' }]),
        { requestId: randomUUID(), now: new Date() },
      );
      const status = timedOut ? 408 : overflow ? 431 : 400;
      const reason = timedOut ? 'Request Timeout' : overflow ? 'Request Header Fields Too Large' : 'Bad Request';
      const body = JSON.stringify(rendered.body);
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
    frameworkErrors: (_error, request, reply) => {
      const rendered = style.error(new ValidationFailed([{ field: 'url', message: 'malformed or over-long URL' }]), responseMeta(request));
      (reply as FastifyReply)
        .code(rendered.status)
        .header('x-request-id', request.id)
        .type('application/json; charset=utf-8')
        .send(rendered.body);
    },
  });

  app.decorate('latchkeyPublicUrl', new URL(config.publicUrl));

  // Response schemas document the API; bodies are serialised as built, so a schema can never drop a field.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  // Every body is read as JSON whatever its Content-Type (Vega's clients send curl's default form type);
  // an empty body is no body. Prototype-poisoning keys are refused.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) return done(null, undefined);
    parseJson(request, body as string, done);
  });

  // Login CSRF: Origin checked on every route that declares `config.cookie` (http/cookie-guard.ts).
  app.addHook('onRoute', cookieOriginGuard(config));
  // Request metrics: each route (those of the plugins below too, /docs among them) records its own answers
  // with label sets built once (metrics.ts), instead of reading `request.routeOptions` (an object built on
  // every read) on every request.
  app.addHook('onRoute', (route) => {
    const record = core.metrics.httpRecorder(route.url);
    const hook: onResponseHookHandler = (request, reply, done) => {
      record(request.method, reply.statusCode, reply.elapsedTime);
      done();
    };
    const existing = route.onResponse;
    route.onResponse = existing === undefined ? [hook] : [...[existing].flat(), hook];
  });

  await app.register(fastifyCookie);
  if (config.corsOrigins.length > 0) {
    await app.register(fastifyCors, {
      origin: [...config.corsOrigins],
      credentials: true,
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
      exposedHeaders: ['X-Request-Id', 'Retry-After'],
      maxAge: 600,
    });
  }

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Latchkey',
        version: '0.1.0',
        description: `Authentication API in the \`${config.apiStyle}\` style (LATCHKEY_API_STYLE).`,
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    transformObject: (document) => ('openapiObject' in document ? describeResponses(document.openapiObject) : document.swaggerObject),
  });
  await app.register(fastifySwaggerUi, docsPageOptions());

  // The methods any route answers; a path that the router finds under another method is a 405, not a 404.
  const routeMethods = new Set<string>();
  const registered: RegisteredRoute[] = [];
  app.decorate('latchkeyRoutes', registered);
  // Routes read one spelling of their body fields (http/input-spelling.ts).
  app.addHook('onRoute', oneInputSpelling);
  app.addHook('onRoute', (route) => {
    const hidden = (route.schema as { hide?: boolean } | undefined)?.hide === true;
    for (const method of [route.method].flat()) {
      routeMethods.add(method);
      registered.push({ url: route.url, method, hidden });
    }
  });

  // Callback hooks, not async ones: these run on every request, and an async hook costs a promise each.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    // Every answer says what it is: JSON that echoes a username must never be taken for a script or style.
    reply.header('x-content-type-options', 'nosniff');
    done();
  });

  // Answers no route matched (404, 405, a malformed URL): the routes record their own (onRoute above).
  const recordUnmatched = core.metrics.httpRecorder('unmatched');
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) recordUnmatched(request.method, reply.statusCode, reply.elapsedTime);
    done();
  });

  app.setErrorHandler(async (thrown, request, reply) => {
    const { error, unexpected } = toLatchkeyError(thrown);
    if (unexpected) request.log.error({ err: thrown }, 'unexpected error');
    else if (error.status === 503) request.log.warn({ err: { message: (thrown as Error).message } }, 'dependency unavailable');
    const rendered = style.error(error, responseMeta(request));
    drainUnreadBody(request, reply);
    if (rendered.status === 401) reply.header('www-authenticate', 'Bearer');
    if (error instanceof RateLimited) reply.header('retry-after', String(error.retryAfterSeconds));
    if (error instanceof MethodNotAllowed) reply.header('allow', error.allow.join(', '));
    if (rendered.status === 503) reply.header('retry-after', '1');
    reply.code(rendered.status).type('application/json; charset=utf-8');
    return rendered.body;
  });

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = [...routeMethods].filter((method) => app.findRoute({ method, url: path }) !== null);
    const error = allowed.length > 0 ? new MethodNotAllowed(allowed) : new NotFound();
    const rendered = style.error(error, responseMeta(request));
    if (error instanceof MethodNotAllowed) reply.header('allow', error.allow.join(', '));
    reply.code(rendered.status).type('application/json; charset=utf-8');
    return rendered.body;
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // Each route group is a plugin of its own, so a hook or decoration it adds stays with its routes.
  for (const install of [
    loginRoutes,
    refreshRoutes,
    logoutRoutes,
    verifyRoutes,
    meRoutes,
    sessionRoutes,
    operationsRoutes,
    wellKnownRoutes,
    oidcRoutes,
    revocationRoutes,
    registerRoutes,
    emailRoutes,
    passwordResetRoutes,
    (a: LatchkeyApp, c: RouteContext) => uiRoutes(a, c, options.uiDir),
    mfaRoutes,
    passkeyRoutes,
    ...(options.routes ?? []),
  ] satisfies RouteInstaller[]) {
    await app.register(async (group) => install(group.withTypeProvider<LatchkeyTypeProvider>(), ctx));
  }
  // The admin API: one plugin, one guard (http/admin.ts).
  await app.register(adminApi(ctx, [adminUserRoutes, adminAuditRoutes, adminKeyRoutes, adminFactorRoutes]), { prefix: ADMIN_PREFIX });
  return app;
}
