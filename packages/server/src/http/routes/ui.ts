/**
 * The hosted pages and admin console under `/ui/` (SPEC §12): the built app (packages/server/ui, built by
 * `npm run build` into ui/dist), deep links such as `/ui/login` answered with the app's index.html, and
 * `GET /ui/config.json`, the public facts the pages need (wire style, name, sign-in providers, sign-up).
 * Every answer carries a strict Content-Security-Policy: scripts and styles from this origin only, no
 * inline code, no framing.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyReply } from 'fastify';
import { NotFound, ServiceUnavailable } from '../../errors.ts';
import { type LatchkeyApp, type LatchkeyTypeProvider, type RouteContext, responseMeta } from '../context.ts';
import { responseSchemas } from '../schemas.ts';
import { objectSchema, okDoc } from '../admin.ts';

/** Where `npm run build` puts the pages (the same depth from src/ and from a built dist/). */
export const UI_DIST = fileURLToPath(new URL('../../../ui/dist/', import.meta.url));

/** The app's own routes: a deep link to one of these gets index.html, anything else under /ui/ is a 404. */
export const UI_PAGES = ['login', 'register', 'forgot', 'reset-password', 'verify-email', 'account', 'admin'] as const;

/**
 * No inline script or style and nothing from another host (the QR code is an SVG element, not a data: URL).
 * `frame-ancestors 'none'` stops click-jacking of the sign-in form; `form-action 'self'` keeps a form
 * from posting a password elsewhere; `base-uri 'none'` stops a <base> tag from re-rooting the scripts.
 */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function secureHeaders(reply: FastifyReply): void {
  reply.header('content-security-policy', UI_CSP);
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  // Reset and verification links carry their token in the query: no page may leak it in a Referer.
  reply.header('referrer-policy', 'no-referrer');
}

const htmlResponse = { description: 'The page (the app’s index.html)', content: { 'text/html': { schema: { type: 'string' } } } };

export async function uiRoutes(app: LatchkeyApp, ctx: RouteContext, dir = UI_DIST): Promise<void> {
  const { config } = ctx.core;
  if (!config.ui) return;
  const { style } = ctx;
  const root = dir.endsWith('/') ? dir : `${dir}/`;
  const built = existsSync(root + 'index.html');
  const { error: errorSchema } = responseSchemas(style);
  const tags = ['ui'];

  await app.register(async (scope) => {
    const ui = scope.withTypeProvider<LatchkeyTypeProvider>();
    if (built) await ui.register(fastifyStatic, { root, serve: false });

    ui.addHook('onRequest', (_request, reply, done) => {
      secureHeaders(reply);
      done();
    });

    const sendPage = (reply: FastifyReply) => {
      if (!built) throw new ServiceUnavailable('ui build');
      // The page itself must be re-checked on every load; its hashed assets may be cached for good.
      return reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });
    };

    for (const path of ['/ui', '/ui/']) {
      ui.get(
        path,
        {
          schema: {
            tags,
            summary: 'The hosted pages',
            description: 'Redirects to /ui/login.',
            response: { 302: { description: 'To /ui/login', type: 'null' } },
          },
        },
        async (_request, reply) => reply.redirect('/ui/login', 302),
      );
    }

    ui.get(
      '/ui/config.json',
      {
        schema: {
          tags,
          summary: 'What the hosted pages need to know',
          description:
            'Public facts only: the wire style, the name in titles, the sign-in providers, sign-up, the origins sign-in may return to.',
          response: {
            200: okDoc(
              style,
              'The pages’ configuration',
              objectSchema(style, {
                style: { type: 'string', enum: ['flat', 'envelope'] },
                app_name: { type: 'string' },
                signup: { type: 'string', enum: ['off', 'open', 'verify'] },
                providers: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: { id: { type: 'string' }, name: { type: 'string' }, login_url: { type: 'string' } },
                  },
                },
                allowed_redirects: { type: 'array', items: { type: 'string' } },
              }),
              {
                style: 'flat',
                app_name: 'Latchkey',
                signup: 'off',
                providers: [{ id: 'google', name: 'Google', login_url: '/api/auth/google/login' }],
                allowed_redirects: ['https://app.example.com'],
              },
            ),
          },
        },
      },
      async (request, reply) => {
        reply.header('cache-control', 'no-cache');
        return style.ok(
          {
            style: config.apiStyle,
            app_name: config.appName,
            signup: config.signup,
            providers: config.oidcProviders.map((p) => ({
              id: p.id,
              name: p.name,
              login_url: p.id === 'google' ? '/api/auth/google/login' : `/api/auth/oidc/${p.id}/login`,
            })),
            allowed_redirects: [...config.allowedRedirects],
          },
          responseMeta(request),
        );
      },
    );

    ui.get(
      '/ui/assets/*',
      {
        schema: {
          tags,
          summary: 'A script, style sheet or image of the pages',
          params: { type: 'object', properties: { '*': { type: 'string' } }, required: ['*'] },
          response: {
            200: {
              description: 'The file',
              content: { 'application/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } },
            },
            404: { ...errorSchema, description: 'No such file' },
          },
        },
      },
      async (request, reply) => {
        const name = request.params['*'];
        // Vite names assets by content hash: letters, digits, `-`, `_` and one extension; nothing else is served.
        if (
          !built ||
          !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.(js|css|svg|png|ico|woff2)$/.test(name) ||
          !existsSync(root + 'assets/' + name)
        ) {
          throw new NotFound();
        }
        return reply.header('cache-control', 'public, max-age=31536000, immutable').sendFile('assets/' + name, { cacheControl: false });
      },
    );

    for (const page of UI_PAGES) {
      ui.get(
        `/ui/${page}`,
        {
          schema: {
            tags,
            summary: `The ${page} page`,
            response: { 200: htmlResponse, 503: { ...errorSchema, description: 'The pages are not built (npm run build)' } },
          },
        },
        async (_request, reply) => sendPage(reply),
      );
    }
  });

  if (!built) app.log.warn({ dir: root }, 'the hosted pages are not built: run `npm run build`; /ui/ answers 503');
}
