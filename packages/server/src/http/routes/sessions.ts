/** `GET /api/auth/sessions` and `DELETE /api/auth/sessions/:id`: the user's own sessions. */
import type { SessionInfo } from '../../auth/sessions.ts';
import type { View } from '../styles/style.ts';
import { type RouteContext, authenticate, requestContext, responseMeta, type LatchkeyApp } from '../context.ts';
import { instantSchema, listDoc, objectSchema } from '../admin.ts';
import { OPAQUE_ID, responseSchemas } from '../schemas.ts';

/** A session as the self-service and admin lists show it; `current` only when the caller's session is known. */
export function sessionView(s: SessionInfo, currentSid?: string): View {
  return {
    id: s.id,
    created_at: new Date(s.createdAt),
    last_used_at: new Date(s.lastUsedAt),
    expires_at: s.expiresAt === null ? null : new Date(s.expiresAt),
    ip: s.ip,
    user_agent: s.userAgent,
    ...(currentSid === undefined ? {} : { current: s.id === currentSid }),
  };
}

export function sessionRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const docs = responseSchemas(ctx.style);
  app.get(
    '/api/auth/sessions',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Your active sessions',
        description: '`last_used_at` is the last login or refresh of the session.',
        security: [{ bearer: [] }],
        response: {
          200: listDoc(
            ctx.style,
            'Your active sessions; `current` marks the one making the request',
            objectSchema(ctx.style, {
              id: { type: 'string' },
              created_at: instantSchema(ctx.style),
              last_used_at: instantSchema(ctx.style),
              expires_at: instantSchema(ctx.style, true),
              ip: { type: ['string', 'null'] },
              user_agent: { type: ['string', 'null'] },
              current: { type: 'boolean' },
            }),
            [
              {
                id: 'q8Xn3v0bK1mZr7Tf2LwYcA',
                created_at: new Date('2026-01-13T08:15:00Z'),
                last_used_at: new Date('2026-01-13T09:45:00Z'),
                expires_at: new Date('2026-02-12T08:15:00Z'),
                ip: '203.0.113.7',
                user_agent: 'Mozilla/5.0',
                current: true,
              },
            ],
          ),
          401: docs.error,
        },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request);
      const sessions = await ctx.core.sessions.listActive(claims.user_id);
      const items = sessions.map((s) => sessionView(s, claims.sid));
      reply.header('cache-control', 'no-store');
      return ctx.style.list(items, { total: items.length, page: 1, pageSize: Math.max(1, items.length) }, responseMeta(request));
    },
  );

  app.delete(
    '/api/auth/sessions/:id',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Revoke one of your sessions',
        security: [{ bearer: [] }],
        params: { type: 'object', properties: { id: OPAQUE_ID }, required: ['id'] },
        response: { 204: { type: 'null', description: 'Session revoked' }, 401: docs.error, 404: docs.error },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request);
      const { id } = request.params;
      const rc = requestContext(request, claims.user_id);
      await ctx.core.accounts.revokeSessions(claims.user_id, { sid: id }, rc);
      return reply.code(204).send();
    },
  );
}
