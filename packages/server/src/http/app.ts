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
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions, LogController } from 'fastify';
import type { Core } from '../core.ts';
import { MethodNotAllowed, NotFound, RateLimited, ValidationFailed } from '../errors.ts';
import { type RouteContext, responseMeta } from './context.ts';
import { toLatchkeyError } from './errors.ts';
import { adminAuditRoutes } from './routes/admin-audit.ts';
import { adminFactorRoutes } from './routes/admin-factors.ts';
import { adminUserRoutes } from './routes/admin-users.ts';
import { loginRoutes } from './routes/login.ts';
import { logoutRoutes } from './routes/logout.ts';
import { meRoutes } from './routes/me.ts';
import { mfaRoutes } from './routes/mfa.ts';
import { oidcRoutes } from './routes/oidc.ts';
import { operationsRoutes } from './routes/operations.ts';
import { passkeyRoutes } from './routes/passkeys.ts';
import { refreshRoutes } from './routes/refresh.ts';
import { revocationRoutes } from './routes/revocations.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { verifyRoutes } from './routes/verify.ts';
import { wellKnownRoutes } from './routes/well-known.ts';
import { envelopeStyle } from './styles/envelope.ts';
import { flatStyle } from './styles/flat.ts';
import type { WireStyle } from './styles/style.ts';

export const BODY_LIMIT = 64 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Adds routes to the app; other packages of the server (admin API, OpenID sign-in) plug in here. */
export type RouteInstaller = (app: FastifyInstance, ctx: RouteContext) => void | Promise<void>;

export interface AppOptions {
  /** pino options, or false for no logs. Defaults to JSON logs at the configured level. */
  readonly logger?: FastifyServerOptions['logger'];
  /** Extra route groups. */
  readonly routes?: readonly RouteInstaller[];
}

export function styleFor(name: 'flat' | 'envelope'): WireStyle {
  return name === 'flat' ? flatStyle : envelopeStyle;
}

/** Path patterns by method, to tell a wrong method (405) from an unknown path (404). */
class RouteTable {
  readonly #routes: { pattern: RegExp; method: string }[] = [];

  add(url: string, methods: string | string[]): void {
    const pattern = new RegExp('^' + url.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\\\*|\*/g, '.*').replace(/:[^/]+/g, '[^/]+') + '/?$');
    for (const method of [methods].flat()) this.#routes.push({ pattern, method });
  }

  allowed(path: string): string[] {
    return [...new Set(this.#routes.filter((r) => r.pattern.test(path)).map((r) => r.method))];
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
    trustProxy: config.trustProxy,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: false } },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A path that does not decode (`/%zz`) or an over-long path parameter never reaches a route, a hook
    // or the error handler; without this, Fastify answers in its own body shape and without a request id.
    // Bytes that are not HTTP (a malformed header, headers over the size limit) never become a request;
    // they still get a JSON answer in the style's shape rather than Node's or Fastify's own.
    clientErrorHandler: (error, socket) => {
      if (!socket.writable) return socket.destroy();
      const overflow = (error as NodeJS.ErrnoException).code === 'HPE_HEADER_OVERFLOW';
      const rendered = style.error(
        overflow ? new ValidationFailed([{ field: 'headers', message: 'request headers are too large' }]) : new ValidationFailed([{ field: 'request', message: 'malformed HTTP request' }]),
        { requestId: randomUUID(), now: new Date() },
      );
      const status = overflow ? 431 : 400;
      const body = JSON.stringify(rendered.body);
      socket.end(
        `HTTP/1.1 ${status} ${overflow ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
    frameworkErrors: (_error, request, reply) => {
      const rendered = style.error(new ValidationFailed([{ field: 'url', message: 'malformed or over-long URL' }]), responseMeta(request));
      (reply as FastifyReply).code(rendered.status).header('x-request-id', request.id).type('application/json; charset=utf-8').send(rendered.body);
    },
  });

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
        description: `Authentication API in the \`${style.name}\` style (LATCHKEY_API_STYLE).`,
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', staticCSP: true });

  const routeTable = new RouteTable();
  app.addHook('onRoute', (route) => routeTable.add(route.url, route.method));

  // Callback hooks, not async ones: these run on every request, and an async hook costs a promise each.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    const labels = { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) };
    core.metrics.httpRequests.inc(labels);
    core.metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
    done();
  });

  app.setErrorHandler(async (thrown, request, reply) => {
    const { error, unexpected } = toLatchkeyError(thrown);
    if (unexpected) request.log.error({ err: thrown }, 'unexpected error');
    else if (error.status === 503) request.log.warn({ err: { message: (thrown as Error).message } }, 'dependency unavailable');
    const rendered = style.error(error, responseMeta(request));
    if (rendered.status === 401) reply.header('www-authenticate', 'Bearer');
    if (error instanceof RateLimited) reply.header('retry-after', String(error.retryAfterSeconds));
    if (error instanceof MethodNotAllowed) reply.header('allow', error.allow.join(', '));
    if (rendered.status === 503) reply.header('retry-after', '1');
    reply.code(rendered.status).type('application/json; charset=utf-8');
    return rendered.body;
  });

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = routeTable.allowed(path);
    const error = allowed.length > 0 ? new MethodNotAllowed(allowed) : new NotFound();
    const rendered = style.error(error, responseMeta(request));
    if (error instanceof MethodNotAllowed) reply.header('allow', error.allow.join(', '));
    reply.code(rendered.status).type('application/json; charset=utf-8');
    return rendered.body;
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  for (const install of [
    loginRoutes,
    refreshRoutes,
    logoutRoutes,
    verifyRoutes,
    meRoutes,
    sessionRoutes,
    operationsRoutes,
    wellKnownRoutes,
    adminUserRoutes,
    adminAuditRoutes,
    oidcRoutes,
    revocationRoutes,
    mfaRoutes,
    passkeyRoutes,
    adminFactorRoutes,
    ...(options.routes ?? []),
  ]) {
    await install(app, ctx);
  }
  return app;
}
