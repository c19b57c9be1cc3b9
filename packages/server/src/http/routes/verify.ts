/**
 * `GET /api/auth/verify`: is this access token good? Answers from the token and the in-memory
 * revocation list, without a database round trip, for services and reverse proxies (forward auth).
 */
import { type RouteContext, authenticate, responseMeta, type LatchkeyApp } from '../context.ts';
import { responseSchemas } from '../schemas.ts';

const HEADER_SAFE = /^[\x20-\x24\x26-\x7e]*$/;

/** Header values must be visible ASCII: other characters (and `%`) are percent-encoded. */
export function headerSafe(value: string): string {
  if (HEADER_SAFE.test(value)) return value;
  // A lone surrogate has no UTF-8 form (encodeURIComponent throws a URIError: a 500); it becomes U+FFFD.
  return value.replace(/\p{Cs}/gu, '\uFFFD').replace(/[^\x20-\x24\x26-\x7e]/gu, (c) => encodeURIComponent(c));
}

export function verifyRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const docs = responseSchemas(ctx.style);
  app.get(
    '/api/auth/verify',
    {
      schema: {
        tags: ['auth'],
        summary: 'Verify an access token',
        description: 'Also sets X-User-Id, X-User-Name (percent-encoded outside visible ASCII) and X-User-Role for forward auth.',
        security: [{ bearer: [] }],
        response: { 200: docs.verify, 401: docs.error },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request);
      reply.header('x-user-id', String(claims.user_id));
      reply.header('x-user-name', headerSafe(claims.username));
      reply.header('x-user-role', claims.role);
      reply.header('cache-control', 'no-store');
      return ctx.style.ok({ valid: true, user_id: claims.user_id, username: claims.username, role: claims.role }, responseMeta(request));
    },
  );
}
