/**
 * Request and response schemas of the second-factor and passkey routes (SPEC §11). Requests take either
 * spelling (`mfa_token` or `mfaToken`) in either style, like the rest of the API; responses are documented in
 * the style's casing through the admin helpers.
 */
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { WireStyle } from './styles/style.ts';
import { instantSchema, listDoc, objectSchema, okDoc } from './admin.ts';
import { OPAQUE_ID, responseSchemas } from './schemas.ts';

const PASSWORD = { type: 'string', minLength: 1, maxLength: 1024 } as const;
/** A TOTP code (6 digits) or a recovery code; anything longer is not a code. */
const CODE = { type: 'string', minLength: 1, maxLength: 64 } as const;
const TOKEN = { type: 'string', minLength: 1, maxLength: 256 } as const;
const NAME = { type: 'string', minLength: 1, maxLength: 100, pattern: '^[^\\u0000]*$' } as const;
/** A PublicKeyCredential serialised by the browser (`@simplewebauthn/browser`'s JSON); checked by the library. */
const CREDENTIAL = {
  type: 'object',
  required: ['id', 'rawId', 'response', 'type'],
  properties: {
    // base64url (with or without padding), as the browser sends it; a NUL byte must never reach a query.
    id: { type: 'string', minLength: 1, maxLength: 1400, pattern: '^[A-Za-z0-9_=-]+$' },
    rawId: { type: 'string', minLength: 1, maxLength: 1400, pattern: '^[A-Za-z0-9_=-]+$' },
    type: { type: 'string', const: 'public-key' },
    response: { type: 'object' },
    clientExtensionResults: { type: 'object' },
    authenticatorAttachment: { type: 'string' },
  },
} as const;

export const currentPasswordBody = {
  type: 'object',
  properties: { current_password: PASSWORD, currentPassword: PASSWORD },
  anyOf: [{ required: ['current_password'] }, { required: ['currentPassword'] }],
} as const;

export const codeBody = {
  type: 'object',
  properties: { code: CODE },
  required: ['code'],
} as const;

export const removeTotpBody = {
  type: 'object',
  properties: { current_password: PASSWORD, currentPassword: PASSWORD, code: CODE },
  anyOf: [{ required: ['current_password'] }, { required: ['currentPassword'] }, { required: ['code'] }],
} as const;

export const mfaVerifyBody = {
  type: 'object',
  properties: { mfa_token: TOKEN, mfaToken: TOKEN, code: CODE, recovery_code: CODE, recoveryCode: CODE, credential: CREDENTIAL },
  allOf: [
    { anyOf: [{ required: ['mfa_token'] }, { required: ['mfaToken'] }] },
    { anyOf: [{ required: ['code'] }, { required: ['recovery_code'] }, { required: ['recoveryCode'] }, { required: ['credential'] }] },
  ],
} as const;

export const mfaTokenBody = {
  type: 'object',
  properties: { mfa_token: TOKEN, mfaToken: TOKEN },
  anyOf: [{ required: ['mfa_token'] }, { required: ['mfaToken'] }],
} as const;

export const passkeyRegisterBody = {
  type: 'object',
  properties: { credential: CREDENTIAL, name: NAME },
  required: ['credential'],
} as const;

export const passkeyRenameBody = {
  type: 'object',
  properties: { name: NAME },
  required: ['name'],
} as const;

export const passkeyLoginOptionsBody = {
  type: 'object',
  properties: { username: { type: 'string', minLength: 3, maxLength: 254, pattern: '^[^\\u0000]*$' } },
  description: '`{}` for a discoverable credential, or a username to list that user’s passkeys.',
} as const;

export const passkeyLoginBody = {
  type: 'object',
  properties: { challenge_id: TOKEN, challengeId: TOKEN, credential: CREDENTIAL },
  required: ['credential'],
  anyOf: [{ required: ['challenge_id'] }, { required: ['challengeId'] }],
} as const;

export const passkeyIdParams = {
  type: 'object',
  properties: { id: OPAQUE_ID },
  required: ['id'],
} as const;

/**
 * The browser's credential JSON as @simplewebauthn's type. The schema checks only its outline (id, rawId,
 * type, response); the library verifies all the rest, so the rest of its type is taken on trust here.
 */
export function webAuthnJson<Json extends AuthenticationResponseJSON | RegistrationResponseJSON>(credential: {
  readonly id: string;
  readonly rawId: string;
}): Json {
  return credential as unknown as Json;
}

/** Response documentation of the SPEC §11 routes. */
export function mfaResponseSchemas(style: WireStyle) {
  const { error, tokens } = responseSchemas(style);
  const passkey = objectSchema(
    style,
    { id: { type: 'string' }, name: { type: 'string' }, created_at: instantSchema(style), last_used_at: instantSchema(style, true) },
    ['id', 'name', 'created_at'],
  );
  const methods = { type: 'array', items: { type: 'string', enum: ['totp', 'recovery_code', 'passkey'] } };
  const mfaRequired = okDoc(
    style,
    'A second factor is due: no tokens, no cookie',
    objectSchema(style, { mfa_required: { type: 'boolean', const: true }, mfa_token: { type: 'string' }, methods }, [
      'mfa_required',
      'mfa_token',
      'methods',
    ]),
    { mfa_required: true, mfa_token: 'q3J…', methods: ['totp', 'recovery_code'] },
  );
  const enrollment = okDoc(
    style,
    'The policy (LATCHKEY_MFA) requires a factor: an access token good only for enrolling one, /me and /logout',
    objectSchema(style, { mfa_enrollment_required: { type: 'boolean', const: true }, token: { type: 'string' } }, [
      'mfa_enrollment_required',
      'token',
    ]),
    { mfa_enrollment_required: true, token: 'eyJ…' },
  );
  const webauthnOptions = {
    type: 'object',
    description: 'WebAuthn options JSON, as `@simplewebauthn/browser` takes them',
    additionalProperties: true,
  };
  return {
    error,
    tokens,
    /** What `/login` (and a Google sign-in) may answer. */
    signIn: { oneOf: [tokens, mfaRequired, enrollment] },
    totpSecret: okDoc(
      style,
      'The new secret, pending until confirmed',
      objectSchema(style, { secret: { type: 'string', description: 'base32' }, otpauth_uri: { type: 'string' } }, [
        'secret',
        'otpauth_uri',
      ]),
      {
        secret: 'JBSWY3DPEHPK3PXP',
        otpauth_uri: 'otpauth://totp/latchkey:ada?issuer=latchkey&secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30',
      },
    ),
    recoveryCodes: okDoc(
      style,
      'Ten single-use recovery codes, shown once',
      objectSchema(style, { recovery_codes: { type: 'array', items: { type: 'string' }, minItems: 10, maxItems: 10 } }, ['recovery_codes']),
      { recovery_codes: ['abcd-efgh-jkmn'] },
    ),
    passkey: okDoc(style, 'A passkey', passkey, {
      id: 'p4sSk3y',
      name: 'Laptop',
      created_at: new Date('2026-01-13T10:00:00Z'),
      last_used_at: null,
    }),
    passkeyAdded: okDoc(
      style,
      'The passkey registered',
      objectSchema(style, { id: { type: 'string' }, name: { type: 'string' }, created_at: instantSchema(style) }, [
        'id',
        'name',
        'created_at',
      ]),
      { id: 'p4sSk3y', name: 'Laptop', created_at: new Date('2026-01-13T10:00:00Z') },
    ),
    passkeyList: listDoc(style, 'Your passkeys', passkey, []),
    webauthnOptions: okDoc(style, 'WebAuthn options', webauthnOptions, {
      challenge: 'c2VydmVyLWNoYWxsZW5nZQ',
      rpId: 'auth.example.com',
      timeout: 300000,
    }),
  };
}
