/**
 * `/api/auth/passkeys/*` (SPEC §11): registering a passkey (Bearer), listing, renaming and deleting one's own,
 * and the passwordless sign-in with a discoverable credential (rate-limited like login).
 */
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { PasskeyInfo } from '../../mfa/passkeys.ts';
import { type RouteContext, authenticate, optionalBody, requestContext, responseMeta, sendTokens, type LatchkeyApp } from '../context.ts';
import {
  webAuthnJson,
  mfaResponseSchemas,
  passkeyIdParams,
  passkeyLoginBody,
  passkeyLoginOptionsBody,
  passkeyRegisterBody,
  passkeyRenameBody,
} from '../mfa-schemas.ts';
import type { View } from '../styles/style.ts';

export function passkeyView(p: PasskeyInfo): View {
  return { id: p.id, name: p.name, created_at: new Date(p.createdAt), last_used_at: p.lastUsedAt === null ? null : new Date(p.lastUsedAt) };
}

export function passkeyRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const docs = mfaResponseSchemas(ctx.style);
  const { mfa, users } = ctx.core;
  const tags = ['passkeys'];
  const security = [{ bearer: [] }];

  app.post(
    '/api/auth/passkeys/register/options',
    {
      schema: {
        tags,
        security,
        summary: 'Creation options for a new passkey',
        description: 'Resident key and user verification preferred; your passkeys are excluded. The challenge lives 5 minutes.',
        response: { 200: docs.webauthnOptions, 401: docs.error, 403: docs.error },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request, { allowEnrollmentOnly: true });
      const options = await mfa.passkeys.registrationOptions(await users.getById(claims.user_id));
      reply.header('cache-control', 'no-store');
      return ctx.style.ok(options as unknown as View, responseMeta(request));
    },
  );

  app.post(
    '/api/auth/passkeys/register',
    {
      schema: {
        tags,
        security,
        summary: 'Register a passkey',
        body: passkeyRegisterBody,
        response: { 201: docs.passkeyAdded, 400: docs.error, 401: docs.error, 403: docs.error, 409: docs.error },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request, { allowEnrollmentOnly: true });
      const body = request.body;
      const added = await mfa.passkeys.register(
        claims.user_id,
        webAuthnJson<RegistrationResponseJSON>(body.credential),
        body.name,
        requestContext(request),
      );
      // SPEC §11: `{id, name, created_at}` (the list adds `last_used_at`).
      return reply
        .code(201)
        .send(ctx.style.ok({ id: added.id, name: added.name, created_at: new Date(added.createdAt) }, responseMeta(request)));
    },
  );

  app.get(
    '/api/auth/passkeys',
    { schema: { tags, security, summary: 'Your passkeys', response: { 200: docs.passkeyList, 401: docs.error, 403: docs.error } } },
    async (request, reply) => {
      const claims = authenticate(ctx, request, { allowEnrollmentOnly: true });
      const items = (await mfa.passkeys.list(claims.user_id)).map(passkeyView);
      reply.header('cache-control', 'no-store');
      return ctx.style.list(items, { total: items.length, page: 1, pageSize: Math.max(1, items.length) }, responseMeta(request));
    },
  );

  app.patch(
    '/api/auth/passkeys/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Rename one of your passkeys',
        params: passkeyIdParams,
        body: passkeyRenameBody,
        response: { 200: docs.passkey, 400: docs.error, 401: docs.error, 403: docs.error, 404: docs.error },
      },
    },
    async (request) => {
      const claims = authenticate(ctx, request);
      const { id } = request.params;
      const { name } = request.body;
      return ctx.style.ok(passkeyView(await mfa.passkeys.rename(claims.user_id, id, name)), responseMeta(request));
    },
  );

  app.delete(
    '/api/auth/passkeys/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Delete one of your passkeys',
        params: passkeyIdParams,
        response: { 204: { type: 'null', description: 'Passkey deleted' }, 401: docs.error, 403: docs.error, 404: docs.error },
      },
    },
    async (request, reply) => {
      const claims = authenticate(ctx, request);
      const { id } = request.params;
      await mfa.passkeys.remove(claims.user_id, id, requestContext(request));
      return reply.code(204).send();
    },
  );

  app.post(
    '/api/auth/passkeys/login/options',
    {
      schema: {
        tags,
        summary: 'Request options for a passwordless sign-in',
        description: 'Answers the WebAuthn request options plus `challenge_id` (user verification required).',
        body: passkeyLoginOptionsBody,
        response: { 200: docs.webauthnOptions, 400: docs.error },
      },
      preValidation: optionalBody,
    },
    async (request, reply) => {
      const body = request.body;
      const { options, challengeId } = await mfa.passkeys.loginOptions(body.username, (name) => users.findByUsername(name));
      reply.header('cache-control', 'no-store');
      return ctx.style.ok({ ...(options as unknown as View), challenge_id: challengeId }, responseMeta(request));
    },
  );

  app.post(
    '/api/auth/passkeys/login',
    {
      // Sets the refresh cookie: behind the login-CSRF guard (JSON body, Origin checked; http/cookie-guard.ts).
      config: { cookie: 'sets' },
      schema: {
        tags,
        summary: 'Sign in with a passkey',
        description: 'A passkey sign-in is multi-factor by itself (amr ["hwk","user"]): no second step. Rate-limited like login.',
        body: passkeyLoginBody,
        response: { 200: docs.tokens, 400: docs.error, 401: docs.error, 429: docs.error },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const issued = await mfa.secondStep.passkeyLogin(
        body.challenge_id ?? '',
        webAuthnJson<AuthenticationResponseJSON>(body.credential),
        requestContext(request),
      );
      return sendTokens(ctx, request, reply, issued);
    },
  );
}
