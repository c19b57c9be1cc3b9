/** `POST /api/auth/login`: username or email and password → a token pair. */
import type { FastifyInstance } from 'fastify';
import { type RouteContext, requestContext, sendTokens } from '../context.ts';
import { type LoginBody, loginBody, responseSchemas } from '../schemas.ts';

export function loginRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const docs = responseSchemas(ctx.style);
  app.post(
    '/api/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Log in with a username or email and a password',
        body: loginBody,
        response: { 200: docs.tokens, 400: docs.error, 401: docs.error, 429: docs.error },
      },
    },
    async (request, reply) => {
      const body = request.body as LoginBody;
      const identifier = body.username ?? body.email ?? '';
      const issued = await ctx.core.passwordLogin.login({ identifier, password: body.password }, requestContext(request), request.log);
      return sendTokens(ctx, request, reply, issued);
    },
  );
}
