/**
 * `GET /api/admin/audit`: the audit log, newest first, filtered by subject user, event type and time
 * range, in pages. ADMIN only.
 */
import { RefusedValue } from '../../errors.ts';
import type { AuditEventRow } from '../../store/schema.ts';
import {
  PAGE,
  PAGE_SIZE,
  type QueryRule,
  adminErrors,
  checkQuery,
  instantSchema,
  listDoc,
  objectSchema,
  pageOf,
  querySchema,
} from '../admin.ts';
import { type RouteContext, responseMeta, type LatchkeyApp } from '../context.ts';
import type { View, ViewValue } from '../styles/style.ts';

// Unix seconds (as the flat style shows instants), or an ISO-8601 date or date-time with a zone (as the
// envelope shows them); a local time without a zone would mean something different on every server.
const INSTANT_PATTERN =
  '^([0-9]{1,12}|[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2}))?)$';
const INSTANT_MESSAGE = 'must be Unix seconds or an ISO-8601 date-time such as 2026-01-13T10:00:00Z';

const AUDIT_QUERY = {
  user_id: {
    schema: { type: 'string', pattern: '^[1-9][0-9]{0,15}$', description: 'The user the events are about', examples: ['42'] },
    message: 'must be a user id (a whole number from 1)',
  },
  type: {
    schema: {
      type: 'string',
      pattern: '^[a-z_]{1,64}$',
      description: 'An event type, such as login_failed or role_changed',
      examples: ['login_failed'],
    },
    message: 'must be an event type such as login_failed',
  },
  since: {
    schema: {
      type: 'string',
      pattern: INSTANT_PATTERN,
      description: 'Events at or after this instant (Unix seconds or ISO-8601)',
      examples: ['2026-01-13T00:00:00Z'],
    },
    message: INSTANT_MESSAGE,
  },
  until: {
    schema: {
      type: 'string',
      pattern: INSTANT_PATTERN,
      description: 'Events before this instant (Unix seconds or ISO-8601)',
      examples: ['1768348800'],
    },
    message: INSTANT_MESSAGE,
  },
  page: PAGE,
  page_size: PAGE_SIZE,
} as const satisfies Readonly<Record<string, QueryRule>>;

/** Milliseconds of a validated `since`/`until`; a calendar-impossible date (month 13) is refused. */
function instant(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^[0-9]+$/.test(value) ? Number(value) * 1000 : Date.parse(value);
  if (!Number.isFinite(ms)) throw new RefusedValue(name, INSTANT_MESSAGE);
  return ms;
}

function detailsView(details: string | null): View | null {
  if (details === null) return null;
  try {
    const parsed: unknown = JSON.parse(details);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, ViewValue>) : null;
  } catch {
    return null;
  }
}

export function auditEventView(row: AuditEventRow): View {
  return {
    id: row.id,
    at: new Date(row.at),
    type: row.type,
    user_id: row.user_id,
    actor_user_id: row.actor_user_id,
    session_id: row.session_id,
    ip: row.ip,
    user_agent: row.user_agent,
    request_id: row.request_id,
    details: detailsView(row.details),
  };
}

const EXAMPLE_EVENT: View = {
  id: 1207,
  at: new Date('2026-01-13T09:58:12Z'),
  type: 'role_changed',
  user_id: 42,
  actor_user_id: 1,
  session_id: null,
  ip: '203.0.113.7',
  user_agent: 'curl/8.5.0',
  request_id: '3f1c7d9e-2b1a-4c55-9d0e-8a7b6c5d4e3f',
  details: { from: 'STANDARD', to: 'ADMIN' },
};

/** PostgreSQL's integer column: no user has a larger id. */
const MAX_ID = 2_147_483_647;

export function adminAuditRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const { style } = ctx;
  const eventSchema = objectSchema(style, {
    id: { type: 'integer' },
    at: instantSchema(style),
    type: { type: 'string' },
    user_id: { type: ['integer', 'null'], description: 'The user the event is about' },
    actor_user_id: { type: ['integer', 'null'], description: 'Who acted: the user, an admin, or null for the CLI' },
    session_id: { type: ['string', 'null'] },
    ip: { type: ['string', 'null'] },
    user_agent: { type: ['string', 'null'] },
    request_id: { type: ['string', 'null'] },
    details: { type: ['object', 'null'], description: 'Event-specific facts; never a password, hash or token' },
  });

  app.get(
    '/audit',
    {
      attachValidation: true,
      schema: {
        tags: ['admin'],
        security: [{ bearer: [] }],
        summary: 'The audit log',
        description: 'Newest first. `since` is inclusive and `until` exclusive; both take Unix seconds or ISO-8601.',
        querystring: querySchema(AUDIT_QUERY),
        response: { 200: listDoc(style, 'A page of audit events', eventSchema, [EXAMPLE_EVENT]), ...adminErrors(style, 400) },
      },
    },
    async (request) => {
      checkQuery(request, AUDIT_QUERY);
      const query = request.query;
      const since = instant('since', query.since);
      const until = instant('until', query.until);
      if (since !== undefined && until !== undefined && until < since) throw new RefusedValue('until', 'must not be before since');
      const { page, pageSize } = pageOf(query);
      const userId = query.user_id === undefined ? undefined : Number(query.user_id);
      const result =
        userId !== undefined && userId > MAX_ID
          ? { items: [], total: 0 }
          : await ctx.core.audit.list({
              ...(userId === undefined ? {} : { userId }),
              ...(query.type === undefined ? {} : { type: query.type }),
              ...(since === undefined ? {} : { since }),
              ...(until === undefined ? {} : { until }),
              page,
              pageSize,
            });
      return style.list(result.items.map(auditEventView), { total: result.total, page, pageSize }, responseMeta(request));
    },
  );
}
