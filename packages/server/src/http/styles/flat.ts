/**
 * The "Vega AI" flat style: bare snake_case bodies, `{"error": "sentence"}` errors, instants as Unix
 * seconds (`expires_at`).
 */
import { type LatchkeyError, RefusedValue } from '../../errors.ts';
import { FLAT_SENTENCES } from '../../wire/errors.ts';
import type { View, ViewValue, WireStyle } from './style.ts';

function plain(value: ViewValue): unknown {
  if (value instanceof Date) return Math.floor(value.getTime() / 1000);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value as View)) out[key] = plain(v);
    return out;
  }
  return value;
}

/**
 * The sentences of the Vega AI contract (SPEC §5's error table), one per kind in the shared wire table;
 * a kind whose text depends on the cause (which name is taken, which field is refused) sends its own.
 */
function sentence(error: LatchkeyError): string {
  if (error instanceof RefusedValue) return `${error.field} ${error.message}`;
  return FLAT_SENTENCES[error.kind] ?? error.message;
}

export const flatStyle: WireStyle = {
  ...flatExtras(),
  name: 'flat',
  tokens(issued) {
    return {
      token: issued.accessToken,
      refresh_token: issued.refreshToken,
      expires_at: issued.expiresAt,
      token_type: 'Bearer',
    };
  },
  ok(view) {
    return plain(view);
  },
  list(items, page) {
    return { items: items.map(plain), total: page.total, page: page.page, page_size: page.pageSize };
  },
  error(error) {
    return { status: error.status, body: { error: sentence(error) } };
  },
};

// ---- h11a: documentation schemas and wire keys of the flat style (the error table above is h11b's) ----

/** A function declaration, so that the style literal above can spread it before this point of the module. */
function flatExtras(): Pick<WireStyle, 'docs' | 'wireKey'> {
  return {
    docs: {
      error: { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] },
      tokens: {
        type: 'object',
        properties: {
          token: { type: 'string' },
          refresh_token: { type: 'string' },
          expires_at: { type: 'integer', description: 'Unix seconds; equals the access token exp' },
          token_type: { type: 'string', const: 'Bearer' },
        },
      },
      verify: {
        type: 'object',
        properties: { valid: { type: 'boolean' }, user_id: { type: 'integer' }, username: { type: 'string' }, role: { type: 'string' } },
      },
      ok: (schema) => schema,
      list: (itemSchema) => ({
        type: 'object',
        properties: {
          items: { type: 'array', items: itemSchema },
          total: { type: 'integer' },
          page: { type: 'integer' },
          page_size: { type: 'integer' },
        },
      }),
      instant: (nullable) => ({ type: nullable ? ['integer', 'null'] : 'integer', description: 'Unix seconds' }),
    },
    wireKey: (key) => key,
  };
}
