/** `POST /api/auth/refresh`: a refresh token (body or cookie) → a new token pair; the old one is spent. */
import { refreshTokens } from '../../auth/refresh.ts';
import { InvalidRefreshToken } from '../../errors.ts';
import { optionalBody, type RouteContext, refreshCookie, requestContext, sendTokens, type LatchkeyApp } from '../context.ts';
import { refreshBody, responseSchemas } from '../schemas.ts';

export function refreshRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const docs = responseSchemas(ctx.style);
  app.post(
    '/api/auth/refresh',
    {
      config: { cookie: 'sets' },
      preValidation: optionalBody,
      schema: {
        tags: ['auth'],
        summary: 'Rotate a refresh token',
        description:
          'Spends the refresh token and returns a new pair. The token comes from the body (`refresh_token` or `refreshToken`) or the `latchkey_refresh` cookie; neither: 401, as for a bad token. ' +
          'The cookie is read and set only without a body or with a JSON one; a request whose `Origin` is neither this server nor an allowed origin is refused (403).',
        body: refreshBody,
        response: { 200: docs.tokens, 400: docs.error, 401: docs.error, 403: docs.error, 429: docs.error },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const token = body.refresh_token ?? refreshCookie(request);
      // No token at all is what every signed-out page sends on load: "no session" (401), not a bad request.
      // A body that is really malformed (bad JSON, a token that is not a string) is still refused with 400.
      if (token === undefined) throw new InvalidRefreshToken('no refresh token in the body or the latchkey_refresh cookie');
      const issued = await refreshTokens(ctx.core, token, requestContext(request));
      return sendTokens(ctx, request, reply, issued);
    },
  );
}
