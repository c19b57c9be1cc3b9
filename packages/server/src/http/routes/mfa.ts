/**
 * `/api/auth/mfa/*` (SPEC §11): TOTP enrolment, confirmation and removal, new recovery codes, and the second
 * step of sign-in (`/mfa/verify`, with `/mfa/passkey/options` for a passkey as the second factor).
 */
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { type RouteContext, authenticate, requestContext, responseMeta, sendTokens, type LatchkeyApp } from '../context.ts';
import {
  codeBody,
  currentPasswordBody,
  mfaResponseSchemas,
  webAuthnJson,
  mfaTokenBody,
  mfaVerifyBody,
  removeTotpBody,
} from '../mfa-schemas.ts';
import type { View } from '../styles/style.ts';

export function mfaRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const docs = mfaResponseSchemas(ctx.style);
  const { mfa, users } = ctx.core;
  const tags = ['second factors'];
  const security = [{ bearer: [] }];

  app.post(
    '/api/auth/mfa/totp',
    {
      schema: {
        tags,
        security,
        summary: 'Start TOTP enrolment',
        description:
          'Checks the current password and answers a new secret and its otpauth:// URI; pending until confirmed. 409 when TOTP is already on.',
        body: currentPasswordBody,
        response: { 200: docs.totpSecret, 400: docs.error, 401: docs.error, 403: docs.error, 409: docs.error },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request, { allowEnrollmentOnly: true });
      const body = request.body;
      await mfa.checkCurrentPassword(claims.user_id, body.current_password ?? '', requestContext(request));
      const { secret, otpauthUri } = await mfa.totp.begin(await users.getById(claims.user_id));
      reply.header('cache-control', 'no-store');
      return ctx.style.ok({ secret, otpauth_uri: otpauthUri }, responseMeta(request));
    },
  );

  app.post(
    '/api/auth/mfa/totp/confirm',
    {
      schema: {
        tags,
        security,
        summary: 'Confirm TOTP enrolment with a first code',
        description: 'Answers ten recovery codes, shown once.',
        body: codeBody,
        response: { 200: docs.recoveryCodes, 400: docs.error, 401: docs.error, 403: docs.error, 409: docs.error },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request, { allowEnrollmentOnly: true });
      const { code } = request.body;
      const codes = await mfa.totp.confirm(claims.user_id, code, requestContext(request));
      reply.header('cache-control', 'no-store');
      return ctx.style.ok({ recovery_codes: codes }, responseMeta(request));
    },
  );

  app.delete(
    '/api/auth/mfa/totp',
    {
      schema: {
        tags,
        security,
        summary: 'Turn TOTP off',
        description: 'With the current password or a current code. The recovery codes go too.',
        body: removeTotpBody,
        response: { 204: { type: 'null', description: 'TOTP removed' }, 400: docs.error, 401: docs.error, 403: docs.error },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request);
      const body = request.body;
      const password = body.current_password;
      if (password !== undefined) await mfa.checkCurrentPassword(claims.user_id, password, requestContext(request));
      else await mfa.secondStep.checkCode(claims.user_id, body.code ?? '', requestContext(request));
      await mfa.totp.remove(claims.user_id, requestContext(request));
      return reply.code(204).send();
    },
  );

  app.post(
    '/api/auth/mfa/recovery-codes',
    {
      schema: {
        tags,
        security,
        summary: 'A new set of recovery codes',
        description: 'With a current TOTP code; the old set stops working.',
        body: codeBody,
        response: { 200: docs.recoveryCodes, 400: docs.error, 401: docs.error, 403: docs.error, 409: docs.error },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request);
      const { code } = request.body;
      const codes = await mfa.totp.newRecoveryCodes(claims.user_id, () =>
        mfa.secondStep.checkCode(claims.user_id, code, requestContext(request)),
      );
      reply.header('cache-control', 'no-store');
      return ctx.style.ok({ recovery_codes: codes }, responseMeta(request));
    },
  );

  app.post(
    '/api/auth/mfa/verify',
    {
      // Sets the refresh cookie: behind the login-CSRF guard (JSON body, Origin checked; http/cookie-guard.ts).
      config: { cookie: 'sets' },
      schema: {
        tags,
        summary: 'Finish a sign-in with a second factor',
        description:
          '`{mfa_token, code}`, `{mfa_token, recovery_code}` or `{mfa_token, credential}` (a passkey assertion for the options of /mfa/passkey/options) → the login body and cookie. Five wrong codes kill the mfa_token. Rate-limited like login.',
        body: mfaVerifyBody,
        response: { 200: docs.tokens, 400: docs.error, 401: docs.error, 429: docs.error },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const recoveryCode = body.recovery_code;
      const issued = await mfa.secondStep.verify(
        {
          mfaToken: body.mfa_token ?? '',
          ...(body.code === undefined ? {} : { code: body.code }),
          ...(recoveryCode === undefined ? {} : { recoveryCode }),
          ...(body.credential === undefined ? {} : { credential: webAuthnJson<AuthenticationResponseJSON>(body.credential) }),
        },
        requestContext(request),
      );
      return sendTokens(ctx, request, reply, issued);
    },
  );

  app.post(
    '/api/auth/mfa/passkey/options',
    {
      schema: {
        tags,
        summary: 'Passkey request options for the second step of a sign-in',
        body: mfaTokenBody,
        response: { 200: docs.webauthnOptions, 400: docs.error, 401: docs.error },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const token = body.mfa_token ?? '';
      const row = await mfa.challenges.live('mfa_token', token);
      const options = await mfa.passkeys.secondFactorOptions(token, row.user_id ?? 0);
      reply.header('cache-control', 'no-store');
      return ctx.style.ok(options as unknown as View, responseMeta(request));
    },
  );
}
