/** `POST /api/auth/login`: username or email and password → a token pair. */
import { type RouteContext, requestContext, type LatchkeyApp } from '../context.ts';
import { mfaResponseSchemas } from '../mfa-schemas.ts';
import { sendSignIn } from '../sign-in-reply.ts';
import { loginBody, responseSchemas } from '../schemas.ts';

export function loginRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const docs = responseSchemas(ctx.style);
  app.post(
    '/api/auth/login',
    {
      config: { cookie: 'sets' },
      schema: {
        tags: ['auth'],
        summary: 'Log in with a username or email and a password',
        description:
          'Sets the `latchkey_refresh` cookie only for a JSON body (`Content-Type: application/json`); any other body type gets the tokens in the body alone. ' +
          'A request whose `Origin` is neither this server nor an allowed origin is refused (403). ' +
          'A user with a second factor gets `mfa_required` and an `mfa_token` instead of tokens (finish at /api/auth/mfa/verify).',
        body: loginBody,
        response: { 200: mfaResponseSchemas(ctx.style).signIn, 400: docs.error, 401: docs.error, 403: docs.error, 429: docs.error },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const identifier = body.username ?? body.email ?? '';
      const result = await ctx.core.passwordLogin.login({ identifier, password: body.password }, requestContext(request), request.log);
      return sendSignIn(ctx, request, reply, result);
    },
  );
}
