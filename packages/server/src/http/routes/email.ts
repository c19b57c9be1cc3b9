/**
 * `POST /api/auth/email/verify`, `/email/resend` and `/email/change` (SPEC §10): confirm an address (and sign
 * in), ask for a new confirmation link, and change one's address (Bearer; needs the current password).
 */
import { objectSchema, okDoc } from '../admin.ts';
import { type RouteContext, authenticate, requestContext, responseMeta, type LatchkeyApp } from '../context.ts';
import { mfaResponseSchemas } from '../mfa-schemas.ts';
import { responseSchemas } from '../schemas.ts';
import { sendSignIn } from '../sign-in-reply.ts';
import type { WireStyle } from '../styles/style.ts';

// PostgreSQL refuses NUL in text; no address contains one. The shape itself is checked by the domain (400).
export const EMAIL = { type: 'string', minLength: 1, maxLength: 254, pattern: '^[^\\u0000]*$' } as const;
export const PASSWORD = { type: 'string', minLength: 1, maxLength: 1024 } as const;
/** A link token: base64url, as Latchkey makes them. */
export const LINK_TOKEN = { type: 'string', minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_-]+$' } as const;

/** The documented body `{"status": …}` (envelope `data: {status}`). */
export function statusDoc(style: WireStyle, description: string, status: string): object {
  return okDoc(style, description, objectSchema(style, { status: { type: 'string', const: status } }, ['status']), { status });
}

const verifyBody = { type: 'object', required: ['token'], properties: { token: LINK_TOKEN } } as const;
const resendBody = { type: 'object', required: ['email'], properties: { email: EMAIL } } as const;
const changeBody = {
  type: 'object',
  properties: { new_email: EMAIL, newEmail: EMAIL, current_password: PASSWORD, currentPassword: PASSWORD },
  anyOf: [{ required: ['new_email', 'current_password'] }, { required: ['newEmail', 'currentPassword'] }],
  examples: [{ new_email: 'ada@new.example.com', current_password: 'correct horse battery staple' }],
} as const;

export function emailRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const { style } = ctx;
  const docs = responseSchemas(style);
  app.post(
    '/api/auth/email/verify',
    {
      config: { cookie: 'sets' },
      schema: {
        tags: ['accounts'],
        summary: 'Confirm an address with the token of a mailed link, and sign in',
        description:
          'The token of a sign-up or email-change link. The answer is that of a password login: the tokens, or for a user with a second factor `mfa_required` and an `mfa_token` for /mfa/verify (a link proves the mailbox, not the second factor). ' +
          'A used, expired, unknown or wrong-purpose token is 400 INVALID_TOKEN.',
        body: verifyBody,
        response: {
          200: mfaResponseSchemas(style).signIn,
          400: docs.error,
          409: { ...docs.error, description: 'the new address was taken meanwhile' },
        },
      },
    },
    async (request, reply) => {
      const { token } = request.body;
      const result = await ctx.core.emailLinks.verifyEmail(token, requestContext(request));
      return sendSignIn(ctx, request, reply, result);
    },
  );

  app.post(
    '/api/auth/email/resend',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Mail a new confirmation link',
        description: 'The same 202 whether or not an unconfirmed account has this address. Older links of the account stop working.',
        body: resendBody,
        response: { 202: statusDoc(style, 'Accepted', 'verification_sent'), 400: docs.error, 429: docs.error },
      },
    },
    async (request, reply) => {
      const { email } = request.body;
      await ctx.core.emailLinks.resendVerification(email, requestContext(request));
      reply.code(202);
      return style.ok({ status: 'verification_sent' }, responseMeta(request));
    },
  );

  app.post(
    '/api/auth/email/change',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Change your email address',
        description:
          'Requires the current password. The new address gets a link; the change happens when its token is posted to /email/verify. ' +
          'The old address gets a notice.',
        security: [{ bearer: [] }],
        body: changeBody,
        response: {
          202: statusDoc(style, 'Accepted', 'verification_sent'),
          400: docs.error,
          401: docs.error,
          403: { ...docs.error, description: 'the current password is incorrect' },
          429: docs.error,
        },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request);
      const body = request.body;
      await ctx.core.emailLinks.changeEmail(claims.user_id, body.new_email ?? '', body.current_password ?? '', requestContext(request));
      reply.code(202);
      return style.ok({ status: 'verification_sent' }, responseMeta(request));
    },
  );
}
