/**
 * `/api/admin/users`: list (search, pages), create, get, update (role, disabled, email, username),
 * reset a password, delete, and list or revoke a user's sessions. ADMIN only. Every change goes through
 * the {@link AccountService}, which revokes sessions where SPEC §4 says so, refuses to leave no active
 * ADMIN (409), and writes the audit log with the admin as the actor.
 */
import { checkRole } from '../../auth/users.ts';
import type { Role } from '../../config.ts';
import {
  PAGE,
  PAGE_SIZE,
  type QueryRule,
  adminErrors,
  adminOf,
  checkQuery,
  instantSchema,
  listDoc,
  objectSchema,
  okDoc,
  pageOf,
  querySchema,
  userIdParam,
  userIdParams,
} from '../admin.ts';
import { type RouteContext, requestContext, responseMeta, type LatchkeyApp } from '../context.ts';
import type { View } from '../styles/style.ts';
import { userView } from './me.ts';
import { sessionView } from './sessions.ts';

const LIST_QUERY = {
  q: {
    // PostgreSQL refuses NUL in text: refused here instead of failing in the database.
    schema: {
      type: 'string',
      maxLength: 254,
      pattern: '^[^\\u0000]*$',
      description: 'Part of a username or email, case-insensitive',
      examples: ['ada'],
    },
    message: 'must be at most 254 characters',
  },
  page: PAGE,
  page_size: PAGE_SIZE,
} as const satisfies Readonly<Record<string, QueryRule>>;

const createBody = {
  type: 'object',
  additionalProperties: false,
  required: ['username'],
  properties: {
    username: { type: 'string', maxLength: 254, description: '3 to 50 characters, unique (case-insensitive)' },
    email: { type: ['string', 'null'], maxLength: 254, description: 'Unique (case-insensitive); optional' },
    role: { type: 'string', description: 'ADMIN or STANDARD (default STANDARD)' },
    password: {
      type: 'string',
      maxLength: 1024,
      description:
        '8 to 128 characters, not a common password. Without one, the account can only sign in with Google until a password is set.',
    },
    email_verified: { type: 'boolean', description: 'false: the user must confirm the address (default true)' },
    emailVerified: { type: 'boolean', description: 'The same as email_verified' },
  },
  examples: [{ username: 'grace', email: 'grace@example.com', role: 'STANDARD', password: 'a long and unusual passphrase' }],
} as const;

const updateBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    username: { type: 'string', maxLength: 254 },
    email: { type: ['string', 'null'], maxLength: 254, description: 'null removes the email' },
    role: { type: 'string', description: 'ADMIN or STANDARD' },
    disabled: { type: 'boolean', description: "true revokes all of the user's sessions" },
    email_verified: { type: 'boolean', description: 'Whether the address counts as confirmed' },
    emailVerified: { type: 'boolean', description: 'The same as email_verified' },
  },
  examples: [{ role: 'ADMIN' }, { disabled: true }, { email: 'grace.hopper@example.com' }],
} as const;

const passwordBody = {
  type: 'object',
  additionalProperties: false,
  required: ['password'],
  properties: { password: { type: 'string', maxLength: 1024, description: '8 to 128 characters, not a common password' } },
  examples: [{ password: 'another long passphrase' }],
} as const;

const EXAMPLE_USER: View = {
  id: 42,
  username: 'grace',
  email: 'grace@example.com',
  role: 'STANDARD',
  created_at: new Date('2026-01-12T09:30:00Z'),
  last_login_at: new Date('2026-01-13T08:15:00Z'),
  disabled: false,
  email_verified: true,
};

const EXAMPLE_SESSION: View = {
  id: 'q8Xn3v0bK1mZr7Tf2LwYcA',
  created_at: new Date('2026-01-13T08:15:00Z'),
  last_used_at: new Date('2026-01-13T09:45:00Z'),
  expires_at: new Date('2026-02-12T08:15:00Z'),
  ip: '203.0.113.7',
  user_agent: 'Mozilla/5.0',
};

function emailVerifiedChange(value: boolean | undefined): { emailVerified?: boolean } {
  return value === undefined ? {} : { emailVerified: value };
}

/** Checked before anything else, so a bad role is a 400 even where the last-admin rule would answer 409. */
function roleOf(value: string | undefined): Role | undefined {
  if (value !== undefined) checkRole(value);
  return value as Role | undefined;
}

export function adminUserRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const { style } = ctx;
  const security = [{ bearer: [] }];
  const tags = ['admin'];
  const userSchema = objectSchema(
    style,
    {
      id: { type: 'integer' },
      username: { type: 'string' },
      email: { type: ['string', 'null'] },
      role: { type: 'string', enum: ['ADMIN', 'STANDARD'] },
      created_at: instantSchema(style),
      last_login_at: instantSchema(style, true),
      disabled: { type: 'boolean' },
      email_verified: { type: 'boolean' },
    },
    ['id', 'username', 'email', 'role', 'created_at', 'last_login_at', 'disabled', 'email_verified'],
  );
  const sessionSchema = objectSchema(style, {
    id: { type: 'string' },
    created_at: instantSchema(style),
    last_used_at: instantSchema(style),
    expires_at: instantSchema(style, true),
    ip: { type: ['string', 'null'] },
    user_agent: { type: ['string', 'null'] },
  });
  const noContent = (description: string) => ({ type: 'null', description });

  app.get(
    '/users',
    {
      attachValidation: true,
      schema: {
        tags,
        security,
        summary: 'List users',
        description: 'Ordered by id. `q` matches part of the username or email, case-insensitively.',
        querystring: querySchema(LIST_QUERY),
        response: { 200: listDoc(style, 'A page of users', userSchema, [EXAMPLE_USER]), ...adminErrors(style, 400) },
      },
    },
    async (request) => {
      checkQuery(request, LIST_QUERY);
      const query = request.query;
      const { page, pageSize } = pageOf(query);
      const result = await ctx.core.users.list({ ...(query.q === undefined ? {} : { q: query.q }), page, pageSize });
      return style.list(
        result.items.map((u) => userView(u, { admin: true })),
        { total: result.total, page, pageSize },
        responseMeta(request),
      );
    },
  );

  app.post(
    '/users',
    {
      schema: {
        tags,
        security,
        summary: 'Create a user',
        body: createBody,
        response: { 201: okDoc(style, 'The user created', userSchema, EXAMPLE_USER), ...adminErrors(style, 400, 409) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const role = roleOf(body.role);
      const user = await ctx.core.accounts.create(
        {
          username: body.username,
          email: body.email ?? null,
          ...(role === undefined ? {} : { role }),
          ...(body.password === undefined ? {} : { password: body.password }),
          emailVerified: body.email_verified ?? true,
        },
        requestContext(request, adminOf(request).userId),
      );
      reply.code(201).header('location', `/api/admin/users/${user.id}`);
      return style.ok(userView(user, { admin: true }), responseMeta(request));
    },
  );

  app.get(
    '/users/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Get a user',
        params: userIdParams,
        response: {
          200: okDoc(
            style,
            'The user, with `mfa: {totp, passkeys}`',
            {
              ...userSchema,
              properties: {
                ...userSchema.properties,
                mfa: { type: 'object', properties: { totp: { type: 'boolean' }, passkeys: { type: 'integer' } } },
              },
            },
            { ...EXAMPLE_USER, mfa: { totp: false, passkeys: 0 } },
          ),
          ...adminErrors(style, 404),
        },
      },
    },
    async (request) => {
      const user = await ctx.core.users.getById(userIdParam(request));
      // SPEC §11: which second factors the user has (the list stays as it was: one query per page).
      return style.ok({ ...userView(user, { admin: true }), mfa: await ctx.core.mfa.secondStep.status(user.id) }, responseMeta(request));
    },
  );

  app.patch(
    '/users/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Change a user: role, disabled, email, username',
        description:
          'Disabling revokes every session of the user. A role change shows in the next refreshed token. ' +
          'The last active ADMIN cannot be demoted or disabled (409).',
        params: userIdParams,
        body: updateBody,
        response: { 200: okDoc(style, 'The user', userSchema, EXAMPLE_USER), ...adminErrors(style, 400, 404, 409) },
      },
    },
    async (request) => {
      const id = userIdParam(request);
      const body = request.body;
      const role = roleOf(body.role);
      const user = await ctx.core.accounts.update(
        id,
        {
          ...(body.username === undefined ? {} : { username: body.username }),
          ...(body.email === undefined ? {} : { email: body.email }),
          ...(role === undefined ? {} : { role }),
          ...(body.disabled === undefined ? {} : { disabled: body.disabled }),
          ...emailVerifiedChange(body.email_verified),
        },
        requestContext(request, adminOf(request).userId),
      );
      return style.ok(userView(user, { admin: true }), responseMeta(request));
    },
  );

  app.post(
    '/users/:id/password',
    {
      schema: {
        tags,
        security,
        summary: "Set a user's password",
        description: 'Every session of the user is revoked.',
        params: userIdParams,
        body: passwordBody,
        response: { 204: noContent('Password set; sessions revoked'), ...adminErrors(style, 400, 404) },
      },
    },
    async (request, reply) => {
      const id = userIdParam(request);
      const { password } = request.body;
      await ctx.core.accounts.resetPassword(id, password, requestContext(request, adminOf(request).userId));
      return reply.code(204).send();
    },
  );

  app.delete(
    '/users/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Delete a user',
        description: 'Revokes every session first. The last active ADMIN cannot be deleted (409).',
        params: userIdParams,
        response: { 204: noContent('User deleted'), ...adminErrors(style, 404, 409) },
      },
    },
    async (request, reply) => {
      await ctx.core.accounts.delete(userIdParam(request), requestContext(request, adminOf(request).userId));
      return reply.code(204).send();
    },
  );

  app.get(
    '/users/:id/sessions',
    {
      schema: {
        tags,
        security,
        summary: "A user's active sessions",
        description: 'Newest first; all of them on one page.',
        params: userIdParams,
        response: { 200: listDoc(style, "The user's active sessions", sessionSchema, [EXAMPLE_SESSION]), ...adminErrors(style, 404) },
      },
    },
    async (request) => {
      const user = await ctx.core.users.getById(userIdParam(request));
      const sessions = await ctx.core.sessions.listActive(user.id);
      const items = sessions.map((s) => sessionView(s));
      return style.list(items, { total: items.length, page: 1, pageSize: Math.max(1, items.length) }, responseMeta(request));
    },
  );

  app.delete(
    '/users/:id/sessions',
    {
      schema: {
        tags,
        security,
        summary: "Revoke all of a user's sessions",
        description: 'Refresh tokens stop at once; access tokens are refused by Latchkey from then on.',
        params: userIdParams,
        response: { 204: noContent('Sessions revoked'), ...adminErrors(style, 404) },
      },
    },
    async (request, reply) => {
      await ctx.core.accounts.revokeSessions(userIdParam(request), 'all', requestContext(request, adminOf(request).userId));
      return reply.code(204).send();
    },
  );
}
