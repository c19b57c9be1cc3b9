/** `POST /api/auth/password/forgot` and `/password/reset` (SPEC §10): a mailed link to set a new password. */
import { type RouteContext, requestContext, responseMeta, type LatchkeyApp } from '../context.ts';
import { responseSchemas } from '../schemas.ts';
import { EMAIL, LINK_TOKEN, PASSWORD, statusDoc } from './email.ts';

const forgotBody = {
  type: 'object',
  properties: {
    email: EMAIL,
    username: { type: 'string', minLength: 1, maxLength: 254, pattern: '^[^\\u0000]*$' },
  },
  anyOf: [{ required: ['email'] }, { required: ['username'] }],
  examples: [{ email: 'ada@example.com' }, { username: 'ada' }],
} as const;

const resetBody = {
  type: 'object',
  properties: { token: LINK_TOKEN, new_password: PASSWORD, newPassword: PASSWORD },
  required: ['token'],
  anyOf: [{ required: ['new_password'] }, { required: ['newPassword'] }],
} as const;

export function passwordResetRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const { style } = ctx;
  const docs = responseSchemas(style);
  app.post(
    '/api/auth/password/forgot',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Mail a password reset link',
        description: 'The same 202 whether or not such a user exists. Older reset links of the user stop working.',
        body: forgotBody,
        response: { 202: statusDoc(style, 'Accepted', 'reset_sent'), 400: docs.error, 429: docs.error },
      },
    },
    async (request, reply) => {
      const body = request.body;
      // With both given, the email decides (it is what the message is sent to).
      await ctx.core.emailLinks.forgotPassword(
        body.email !== undefined ? { email: body.email } : { username: body.username ?? '' },
        requestContext(request),
      );
      reply.code(202);
      return style.ok({ status: 'reset_sent' }, responseMeta(request));
    },
  );

  app.post(
    '/api/auth/password/reset',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Set a new password with the token of a reset link',
        description: 'Every session of the user is revoked, and the address counts as confirmed.',
        body: resetBody,
        response: { 204: { type: 'null', description: 'Password set' }, 400: docs.error },
      },
    },
    async (request, reply) => {
      const body = request.body;
      await ctx.core.emailLinks.resetPassword(body.token, body.new_password ?? '', requestContext(request));
      return reply.code(204).send();
    },
  );
}
