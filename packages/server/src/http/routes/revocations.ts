/**
 * `GET /api/auth/revocations`: a Server-Sent Events stream of revoked sessions, so that resource
 * servers (`@latchkey/verify`) refuse a logged-out session's access tokens at once without calling
 * Latchkey on every request.
 *
 * Every event is `event: revoked` with `data: {"sid": "…", "exp": <Unix seconds>}`: after `exp` no access
 * token of that session can still be valid, so a subscriber may forget it. A subscriber first receives
 * every revocation still relevant, then `event: ready`, then live revocations. A comment line is sent
 * every {@link HEARTBEAT_MS} so that both ends notice a dead connection.
 *
 * @example
 *   curl -N -H "Authorization: Bearer $LATCHKEY_REVOCATION_FEED_KEY" http://127.0.0.1:8080/api/auth/revocations
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { FastifyRequest } from 'fastify';
import type { Revocation } from '../../auth/revocations.ts';
import { InvalidAccessToken, MalformedAuthorization, MissingAuthorization, ServiceUnavailable } from '../../errors.ts';
import type { RouteContext, LatchkeyApp } from '../context.ts';
import { responseSchemas } from '../schemas.ts';

/** Short enough for proxies that drop idle connections after 30–60 s; verifiers allow three missed beats. */
export const HEARTBEAT_MS = 15_000;

/** How long EventSource clients wait before reconnecting (the `retry:` field). */
const RETRY_MS = 1000;
/**
 * How far a subscriber may fall behind (bytes written but not yet taken by its socket, beyond the initial
 * list) before the feed drops it. A reader that takes a byte now and then would otherwise make the server
 * keep every revocation and heartbeat for it in memory; dropped, it reconnects (`retry`) and gets the list again.
 */
export const FEED_BACKLOG_LIMIT = 1024 * 1024;

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Refuses the request unless it carries the feed key. The key is an opaque string, compared whole: any key the
 * configuration accepts (`!`, `$`, spaces…) authenticates, though it is no token68. Digests make the comparison
 * constant-time whatever the lengths.
 */
function checkFeedKey(request: FastifyRequest, key: string | undefined): void {
  const header = request.headers.authorization;
  if (header === undefined || header === '') throw new MissingAuthorization();
  const match = /^bearer[ ]+(.+)$/is.exec(header);
  if (match?.[1] === undefined) throw new MalformedAuthorization();
  // No key configured and the feed not declared public: nothing authenticates.
  if (key === undefined || !timingSafeEqual(digest(match[1]), digest(key))) throw new InvalidAccessToken('wrong revocation feed key');
}

function revokedEvent(revocation: Revocation): string {
  const data = JSON.stringify({ sid: revocation.sessionId, exp: Math.ceil(revocation.expiresAt / 1000) });
  return `event: revoked\ndata: ${data}\n\n`;
}

export function revocationRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const docs = responseSchemas(ctx.style);
  const open = new Set<ServerResponse>();
  // Streams never finish on their own: end them when the server closes, or close() would wait forever.
  app.addHook('preClose', async () => {
    for (const stream of open) stream.end();
  });

  app.get(
    '/api/auth/revocations',
    {
      schema: {
        tags: ['keys'],
        summary: 'Revoked sessions, as Server-Sent Events',
        description:
          'Events `revoked` with data `{"sid", "exp"}` (exp in Unix seconds): first every revocation still relevant, then `ready`, then live ones. ' +
          'Requires `Authorization: Bearer <LATCHKEY_REVOCATION_FEED_KEY>` (the key compared as an opaque string) unless ' +
          '`LATCHKEY_REVOCATION_FEED=public`; without a key and not public, every request gets 401. ' +
          'Past `LATCHKEY_REVOCATION_FEED_MAX_CONNECTIONS` subscribers, 503 with `Retry-After`.',
        security: [{ bearer: [] }],
        response: {
          200: { description: 'Server-Sent Events', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          401: docs.error,
          503: docs.error,
        },
      },
    },
    async (request, reply) => {
      const { config } = ctx.core;
      if (config.revocationFeed !== 'public') checkFeedKey(request, config.revocationFeedKey);
      // Each subscriber holds a socket and a listener: past the cap, a new one waits (503 + Retry-After).
      if (open.size >= config.revocationFeedMaxConnections)
        throw new ServiceUnavailable('revocation feed (LATCHKEY_REVOCATION_FEED_MAX_CONNECTIONS)');

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        // nginx buffers responses by default, which would hold events back.
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
      });
      open.add(raw);
      // The initial list may be long; only what piles up on top of it counts against the backlog limit.
      let allowance = FEED_BACKLOG_LIMIT;
      const send = (text: string) => {
        if (raw.destroyed) return;
        raw.write(text);
        if (raw.writableLength > allowance) raw.destroy();
      };
      // Subscribe before reading the current list, so that nothing revoked in between is missed (a
      // duplicate is harmless to a subscriber).
      const unsubscribe = ctx.core.revocations.onRevoked((revocation) => send(revokedEvent(revocation)));
      const initial = ctx.core.revocations.current();
      const opening =
        `retry: ${RETRY_MS}\n\n` +
        initial.map(revokedEvent).join('') +
        `event: ready\ndata: ${JSON.stringify({ count: initial.length })}\n\n`;
      allowance += Buffer.byteLength(opening);
      send(opening);
      const heartbeat = setInterval(() => send(': heartbeat\n\n'), HEARTBEAT_MS).unref();
      raw.on('close', () => {
        clearInterval(heartbeat);
        unsubscribe();
        open.delete(raw);
      });
    },
  );
}
