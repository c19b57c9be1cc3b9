/**
 * The "Vulcan" envelope style: `{"data", "error", "meta": {"timestamp", "requestId"}}`, camelCase keys
 * everywhere, instants as ISO-8601 UTC strings, errors as `{code, message, details?}`.
 */
import { type FieldProblem, type LatchkeyError, PayloadTooLarge, RefusedValue, ValidationFailed } from '../../errors.ts';
import { ENVELOPE_MESSAGES, capitalised } from '../../wire/errors.ts';
import { type ResponseMeta, type View, type ViewValue, type WireStyle, isoSeconds } from './style.ts';

export function camelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function camel(value: ViewValue): unknown {
  if (value instanceof Date) return isoSeconds(value);
  if (Array.isArray(value)) return value.map(camel);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value as View)) out[camelCase(key)] = camel(v);
    return out;
  }
  return value;
}

function meta(m: ResponseMeta, extra: Record<string, unknown> = {}) {
  return { ...extra, timestamp: isoSeconds(m.now), requestId: m.requestId };
}

/** The Vulcan contract's message for each kind in the shared wire table, or the error's own, capitalised. */
function message(error: LatchkeyError): string {
  return ENVELOPE_MESSAGES[error.kind] ?? capitalised(error.message);
}

function details(error: LatchkeyError): readonly FieldProblem[] | undefined {
  if (error instanceof ValidationFailed) {
    return error.details.length > 0
      ? error.details.map((d) => ({ field: camelCase(d.field), message: d.message }))
      : [{ field: 'body', message: 'invalid request body' }];
  }
  if (error instanceof PayloadTooLarge) return [{ field: 'body', message: error.message }];
  if (error instanceof RefusedValue) return [{ field: camelCase(error.field), message: error.message }];
  return undefined;
}

export const envelopeStyle: WireStyle = {
  ...envelopeExtras(),
  name: 'envelope',
  tokens(issued, m) {
    return {
      data: {
        token: issued.accessToken,
        expiresAt: isoSeconds(new Date(issued.expiresAt * 1000)),
        refreshToken: issued.refreshToken,
        tokenType: 'Bearer',
      },
      error: null,
      meta: meta(m),
    };
  },
  ok(view, m) {
    return { data: camel(view), error: null, meta: meta(m) };
  },
  list(items, page, m) {
    return { data: items.map(camel), error: null, meta: meta(m, { total: page.total, page: page.page, pageSize: page.pageSize }) };
  },
  error(error, m) {
    const d = details(error);
    return {
      status: error.status,
      body: { data: null, error: { code: error.code, message: message(error), ...(d === undefined ? {} : { details: d }) }, meta: meta(m) },
    };
  },
};

// ---- h11a: documentation schemas and wire keys of the envelope style (the error table above is h11b's) ----

/** A function declaration, so that the style literal above can spread it before this point of the module. */
function envelopeExtras(): Pick<WireStyle, 'docs' | 'wireKey'> {
  const wrap = (data: object) => ({
    type: 'object',
    properties: {
      data,
      error: { type: 'null' },
      meta: { type: 'object', properties: { timestamp: { type: 'string' }, requestId: { type: 'string' } } },
    },
  });
  return {
    docs: {
      error: {
        type: 'object',
        properties: {
          data: { type: 'null' },
          error: {
            type: 'object',
            properties: {
              code: { type: 'string' },
              message: { type: 'string' },
              details: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } },
            },
          },
          meta: { type: 'object' },
        },
      },
      tokens: wrap({
        type: 'object',
        properties: {
          token: { type: 'string' },
          expiresAt: { type: 'string', format: 'date-time' },
          refreshToken: { type: 'string' },
          tokenType: { type: 'string', const: 'Bearer' },
        },
      }),
      verify: wrap({
        type: 'object',
        properties: { valid: { type: 'boolean' }, userId: { type: 'integer' }, username: { type: 'string' }, role: { type: 'string' } },
      }),
      ok: wrap,
      list: (itemSchema) => ({
        type: 'object',
        properties: {
          data: { type: 'array', items: itemSchema },
          error: { type: 'null' },
          meta: {
            type: 'object',
            properties: {
              total: { type: 'integer' },
              page: { type: 'integer' },
              pageSize: { type: 'integer' },
              timestamp: { type: 'string' },
              requestId: { type: 'string' },
            },
          },
        },
      }),
      instant: (nullable) => ({ type: nullable ? ['string', 'null'] : 'string', format: 'date-time' }),
    },
    wireKey: camelCase,
  };
}
