/** `POST /api/auth/logout` and `POST /api/auth/logout-all`: revoke this session, or all of the user's. */
import type { FastifyRequest } from 'fastify';
import { LatchkeyError, MissingAuthorization } from '../../errors.ts';
import {
  optionalBody,
  type RouteContext,
  authenticate,
  clearRefreshCookie,
  refreshCookie,
  requestContext,
  type LatchkeyApp,
} from '../context.ts';
import { refreshBody, responseSchemas } from '../schemas.ts';

/** The session to end: the Bearer token's, else the refresh token's (body, then cookie). */
async function sessionToEnd(
  ctx: RouteContext,
  request: FastifyRequest,
  body: { readonly refresh_token?: string },
): Promise<{ sid: string; userId: number }> {
  const refreshToken = body.refresh_token ?? refreshCookie(request);
  let accessError: LatchkeyError | undefined;
  if (request.headers.authorization !== undefined) {
    try {
      const claims = authenticate(ctx, request, { allowEnrollmentOnly: true });
      return { sid: claims.sid, userId: claims.user_id };
    } catch (error) {
      if (!(error instanceof LatchkeyError) || refreshToken === undefined) throw error;
      accessError = error;
    }
  }
  if (refreshToken === undefined) throw new MissingAuthorization();
  try {
    return await ctx.core.sessions.sessionOfRefreshToken(refreshToken);
  } catch (error) {
    throw accessError ?? error;
  }
}

export function logoutRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const docs = responseSchemas(ctx.style);
  app.post(
    '/api/auth/logout',
    {
      config: { cookie: 'reads' },
      preValidation: optionalBody,
      schema: {
        tags: ['auth'],
        summary: 'Log out: revoke this session',
        description:
          'Authenticated by the Bearer access token, or by a refresh token in the body or cookie. Clears the refresh cookie once the session is revoked. ' +
          'A request whose `Origin` is neither this server nor an allowed origin is refused (403).',
        body: refreshBody,
        response: { 204: { type: 'null', description: 'Session revoked' }, 401: docs.error, 403: docs.error },
      },
    },
    async (request, reply) => {
      const { sid, userId } = await sessionToEnd(ctx, request, request.body ?? {});
      const rc = requestContext(request, userId);
      await ctx.core.accounts.logout(userId, sid, rc);
      // Only now: a request that authenticates nothing must not end the caller's cookie (a cross-site logout).
      clearRefreshCookie(request, reply);
      return reply.code(204).send();
    },
  );

  app.post(
    '/api/auth/logout-all',
    {
      schema: {
        tags: ['sessions'],
        summary: "Log out everywhere: revoke all of the user's sessions",
        security: [{ bearer: [] }],
        response: { 204: { type: 'null', description: 'Sessions revoked' }, 401: docs.error },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request);
      const rc = requestContext(request, claims.user_id);
      await ctx.core.accounts.logoutEverywhere(claims.user_id, claims.sid, rc);
      clearRefreshCookie(request, reply);
      return reply.code(204).send();
    },
  );
}
