/** `POST /api/auth/register` (SPEC §10): sign-up in the `open` or `verify` mode of LATCHKEY_SIGNUP. */
import { type RouteContext, requestContext, responseMeta, sendTokens, type LatchkeyApp } from '../context.ts';
import { responseSchemas } from '../schemas.ts';
import { EMAIL, PASSWORD, statusDoc } from './email.ts';

const registerBody = {
  type: 'object',
  required: ['username', 'email', 'password'],
  properties: {
    username: {
      type: 'string',
      minLength: 1,
      maxLength: 254,
      pattern: '^[^\\u0000]*$',
      description: '3 to 50 characters, unique (case-insensitive), public',
    },
    email: EMAIL,
    password: { ...PASSWORD, description: '8 to 128 characters, not a common password' },
  },
  examples: [{ username: 'ada', email: 'ada@example.com', password: 'correct horse battery staple' }],
} as const;

export function registerRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const { style } = ctx;
  const docs = responseSchemas(style);
  app.post(
    '/api/auth/register',
    {
      config: { cookie: 'sets' },
      schema: {
        tags: ['accounts'],
        summary: 'Sign up',
        description:
          '`open` mode: the account is created and signed in (201, the login body and cookie). `verify` mode: 202 whether or not the ' +
          'address already has an account; a link (or, for a known address, a notice) is mailed. `off`: 403 SIGNUP_DISABLED.',
        body: registerBody,
        response: {
          201: { ...docs.tokens, description: 'open mode: signed in' },
          202: statusDoc(style, 'verify mode: a link was mailed', 'verification_sent'),
          400: docs.error,
          403: { ...docs.error, description: 'sign-up is disabled, or the email domain is not allowed' },
          409: { ...docs.error, description: 'username taken (both modes), email taken (open mode)' },
          429: docs.error,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const result = await ctx.core.signup.register(
        { username: body.username, email: body.email, password: body.password },
        requestContext(request),
      );
      if (result.issued) {
        reply.code(201);
        return sendTokens(ctx, request, reply, result.issued);
      }
      reply.code(202);
      return style.ok({ status: 'verification_sent' }, responseMeta(request));
    },
  );
}
