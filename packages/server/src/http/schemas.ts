/**
 * JSON schemas shared by routes. They validate requests (ajv, no type coercion) and document the API in
 * `/openapi.json`. Response schemas are documentation only: bodies are serialised as built.
 */
import type { WireStyle } from './styles/style.ts';

// PostgreSQL refuses NUL in text; an identifier never contains one, so it is a malformed request.
const IDENTIFIER = { type: 'string', minLength: 3, maxLength: 254, pattern: '^[^\\u0000]*$' } as const;

/**
 * A session's or a passkey's id in a path: base64url, as they are made. Anything else (a NUL byte, which
 * PostgreSQL refuses in text, among others) is a malformed request, never a query.
 */
export const OPAQUE_ID = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' } as const;

export const loginBody = {
  type: 'object',
  properties: {
    username: { ...IDENTIFIER, description: 'A username or an email' },
    email: { ...IDENTIFIER, description: 'An email or a username' },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
  },
  required: ['password'],
  anyOf: [{ required: ['username'] }, { required: ['email'] }],
  examples: [{ username: 'ada', password: 'correct horse battery staple' }],
} as const;

const TOKEN = { type: 'string', minLength: 1, maxLength: 8192 } as const;

export const refreshBody = {
  type: 'object',
  properties: { refresh_token: TOKEN, refreshToken: TOKEN },
  description: 'Optional when the latchkey_refresh cookie is sent.',
} as const;

export const passwordBody = {
  type: 'object',
  properties: {
    current_password: { type: 'string', minLength: 1, maxLength: 1024 },
    new_password: { type: 'string', minLength: 1, maxLength: 1024 },
    currentPassword: { type: 'string', minLength: 1, maxLength: 1024 },
    newPassword: { type: 'string', minLength: 1, maxLength: 1024 },
  },
  anyOf: [{ required: ['current_password', 'new_password'] }, { required: ['currentPassword', 'newPassword'] }],
} as const;

/** Documentation of the bodies the style returns (each style supplies its own: http/styles/). */
export function responseSchemas(style: WireStyle) {
  const { error, tokens, verify } = style.docs;
  return { error, tokens, verify };
}
