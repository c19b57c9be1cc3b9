/** `GET /api/auth/me` and `POST /api/auth/password`: the current user, and changing one's own password. */
import { InvalidAccessToken } from '../../errors.ts';
import type { User } from '../../auth/users.ts';
import { type RouteContext, authenticate, requestContext, responseMeta, type LatchkeyApp } from '../context.ts';
import { instantSchema, objectSchema, okDoc } from '../admin.ts';
import { passwordBody, responseSchemas } from '../schemas.ts';
import type { View } from '../styles/style.ts';

/** A user as `/me` and the admin API show one. */
export function userView(user: User, options: { admin?: boolean } = {}): View {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    role: user.role,
    created_at: new Date(user.createdAt),
    last_login_at: user.lastLoginAt === null ? null : new Date(user.lastLoginAt),
    email_verified: user.emailVerified,
    ...(options.admin ? { disabled: user.disabled } : {}),
  };
}

export function meRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const docs = responseSchemas(ctx.style);
  app.get(
    '/api/auth/me',
    {
      schema: {
        tags: ['account'],
        summary: 'The current user',
        security: [{ bearer: [] }],
        response: {
          200: okDoc(
            ctx.style,
            'The current user',
            objectSchema(
              ctx.style,
              {
                id: { type: 'integer' },
                username: { type: 'string' },
                email: { type: ['string', 'null'] },
                role: { type: 'string', enum: ['ADMIN', 'STANDARD'] },
                created_at: instantSchema(ctx.style),
                last_login_at: instantSchema(ctx.style, true),
              },
              ['id', 'username', 'email', 'role', 'created_at', 'last_login_at'],
            ),
            {
              id: 42,
              username: 'grace',
              email: 'grace@example.com',
              role: 'STANDARD',
              created_at: new Date('2026-01-12T09:30:00Z'),
              last_login_at: new Date('2026-01-13T08:15:00Z'),
            },
          ),
          401: docs.error,
        },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request, { allowEnrollmentOnly: true });
      const user = await ctx.core.users.findById(claims.user_id);
      if (!user || user.disabled) throw new InvalidAccessToken('user gone');
      reply.header('cache-control', 'no-store');
      return ctx.style.ok(userView(user), responseMeta(request));
    },
  );

  app.post(
    '/api/auth/password',
    {
      schema: {
        tags: ['account'],
        summary: 'Change your password',
        description:
          'Requires the current password, limited and audited like login (429 past the budgets). Every other session of the user is revoked; this one stays.',
        security: [{ bearer: [] }],
        body: passwordBody,
        response: {
          204: { type: 'null', description: 'Password changed' },
          400: docs.error,
          401: docs.error,
          403: docs.error,
          409: docs.error,
          429: docs.error,
        },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request);
      const body = request.body;
      const current = body.current_password ?? '';
      const next = body.new_password ?? '';
      await ctx.core.accounts.changeOwnPassword(claims.user_id, claims.sid, current, next, requestContext(request), request.log);
      return reply.code(204).send();
    },
  );
}
