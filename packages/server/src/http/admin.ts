/**
 * The admin API: one encapsulated plugin under `/api/admin`, registered as
 * `app.register(adminApi(ctx, groups), { prefix: '/api/admin' })`. Its one `onRequest` guard admits ADMINs
 * only and decorates the request with the caller; each route group is a plugin inside it, with paths
 * relative to the prefix, and the documentation schemas of views in either wire style come from here.
 *
 * @example
 *   export function adminWidgetRoutes(app: LatchkeyApp, ctx: RouteContext): void {
 *     app.get('/widgets', { schema }, async (request) => {
 *       const admin = adminOf(request); // { userId, sessionId }
 *     });
 *   }
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Forbidden, InvalidAccessToken, NotFound, RefusedValue } from '../errors.ts';
import { type LatchkeyTypeProvider, type RouteContext, type RouteInstaller, authenticate } from './context.ts';
import { responseSchemas } from './schemas.ts';
import type { View, WireStyle } from './styles/style.ts';

export interface AdminCaller {
  readonly userId: number;
  readonly sessionId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The ADMIN making the request: set by the admin API's guard, null outside it. */
    admin: AdminCaller | null;
  }
}

export const ADMIN_PREFIX = '/api/admin';

/** The admin API as one plugin: the guard once, then each group as a plugin of its own. */
export function adminApi(ctx: RouteContext, groups: readonly RouteInstaller[]): FastifyPluginAsync {
  return async function admin(scope: FastifyInstance) {
    scope.decorateRequest('admin', null);
    scope.addHook('onRequest', adminGuard(ctx));
    for (const group of groups) await scope.register(async (routes) => group(routes.withTypeProvider<LatchkeyTypeProvider>(), ctx));
  };
}

/**
 * The guard: 401 without a valid access token, 403 unless the caller is an ADMIN. The role is read from
 * the database, not the token, so a demotion takes effect at once rather than at the token's expiry. Runs
 * before the body and query are validated, so an anonymous caller learns nothing about them.
 */
function adminGuard(ctx: RouteContext) {
  return async function adminGuard(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    // Admin answers hold personal data; no shared cache may keep them, errors included.
    reply.header('cache-control', 'no-store');
    const claims = authenticate(ctx, request);
    const user = await ctx.core.users.findById(claims.user_id);
    if (!user || user.disabled) throw new InvalidAccessToken('user gone');
    if (user.role !== 'ADMIN') throw new Forbidden();
    request.admin = { userId: user.id, sessionId: claims.sid };
  };
}

/** The ADMIN making this request (set by the admin API's guard). */
export function adminOf(request: FastifyRequest): AdminCaller {
  if (request.admin === null) throw new Forbidden();
  return request.admin;
}

// PostgreSQL's integer column: a larger id names no user, and must not reach the database as a 500.
const MAX_ID = 2_147_483_647;

/** The `:id` of a user path; anything that is not a user id names no user (404). */
export function userIdParam(request: { readonly params: { readonly id: string } }): number {
  const { id } = request.params;
  const value = /^[1-9][0-9]{0,9}$/.test(id) ? Number(id) : NaN;
  if (!(value <= MAX_ID)) throw new NotFound('no such user');
  return value;
}

export const userIdParams = {
  type: 'object',
  properties: { id: { type: 'string', description: 'The user id (an integer)', examples: ['42'] } },
  required: ['id'],
} as const;

/** Query-string rules, as JSON schema (kept literal, so the query is typed from it), with the sentence a refusal shows. */
export interface QueryRule {
  readonly schema: { readonly type: 'string' } & Readonly<Record<string, unknown>>;
  readonly message: string;
}

export const PAGE = {
  schema: { type: 'string', pattern: '^[1-9][0-9]{0,5}$', description: 'Page number, from 1', examples: ['1'] },
  message: 'must be a whole number from 1 to 999999',
} as const satisfies QueryRule;
export const PAGE_SIZE = {
  schema: {
    type: 'string',
    pattern: '^([1-9][0-9]?|1[0-9][0-9]|200)$',
    description: 'Items per page, 1 to 200 (default 50)',
    examples: ['50'],
  },
  message: 'must be a whole number from 1 to 200',
} as const satisfies QueryRule;

/** A querystring schema from rules; unknown parameters are ignored (cache busters and the like). */
export function querySchema<const Rules extends Readonly<Record<string, QueryRule>>>(rules: Rules) {
  return {
    type: 'object',
    properties: Object.fromEntries(Object.entries(rules).map(([name, rule]) => [name, rule.schema])) as {
      readonly [Name in keyof Rules]: Rules[Name]['schema'];
    },
  } as const;
}

/**
 * Turns a query-string validation failure (routes set `attachValidation`) into a 400 naming the
 * parameter. A repeated parameter (`?page=1&page=2`) arrives as an array and is refused the same way.
 */
export function checkQuery(request: FastifyRequest, rules: Readonly<Record<string, QueryRule>>): void {
  const failure = request.validationError;
  if (failure === undefined) return;
  const first = (failure.validation as { instancePath?: string }[] | undefined)?.[0];
  const name = (first?.instancePath ?? '').split('/')[1] ?? '';
  const rule = rules[name];
  throw new RefusedValue(rule === undefined ? 'query' : name, rule === undefined ? 'is invalid' : rule.message);
}

/** Page and page size from a validated query. */
export function pageOf(query: { page?: string; page_size?: string }): { page: number; pageSize: number } {
  return {
    page: query.page === undefined ? 1 : Number(query.page),
    pageSize: query.page_size === undefined ? 50 : Number(query.page_size),
  };
}

/** A documentation schema of an object view with snake_case `properties`, in the style's casing. */
export function objectSchema(style: WireStyle, properties: Readonly<Record<string, object>>, required: readonly string[] = []) {
  return {
    type: 'object',
    properties: Object.fromEntries(Object.entries(properties).map(([key, schema]) => [style.wireKey(key), schema])),
    ...(required.length > 0 ? { required: required.map((key) => style.wireKey(key)) } : {}),
  };
}

/** An instant: Unix seconds in the flat style, ISO-8601 UTC in the envelope. */
export function instantSchema(style: WireStyle, nullable = false): object {
  return style.docs.instant(nullable);
}

const EXAMPLE_META = { requestId: '3f1c7d9e-2b1a-4c55-9d0e-8a7b6c5d4e3f', now: new Date('2026-01-13T10:00:00Z') };

/** A body and its example, as the style renders `view`. */
export function okDoc(style: WireStyle, description: string, schema: object, example: View): object {
  const body = style.docs.ok(schema);
  return { ...body, description, examples: [style.ok(example, EXAMPLE_META)] };
}

/** A paginated list body and its example, as the style renders `items`. */
export function listDoc(style: WireStyle, description: string, itemSchema: object, example: readonly View[]): object {
  const page = { total: example.length, page: 1, pageSize: 50 };
  const body = style.docs.list(itemSchema);
  return { ...body, description, examples: [style.list(example, page, EXAMPLE_META)] };
}

/** The error bodies of an admin route, documented once. */
export function adminErrors(style: WireStyle, ...statuses: number[]): Record<number, object> {
  const { error } = responseSchemas(style);
  return Object.fromEntries(
    [401, 403, ...statuses].map((status) => [status, { ...error, description: ERROR_DESCRIPTIONS[status] ?? 'Error' }]),
  );
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'A malformed body or query, or a value the rules refuse',
  401: 'No valid access token',
  403: 'The caller is not an ADMIN',
  404: 'No such user',
  409: 'The username or email is taken, or the change would leave no active ADMIN',
};
