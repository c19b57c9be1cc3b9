/**
 * The wire contract of Latchkey's errors, shared by the server, `@latchkey/client` and `@latchkey/verify`:
 * every error kind with its envelope `code`, its HTTP status, its flat-style sentence and its envelope
 * message. Each package compiles this folder into its own build (through a `src/wire` link), so it is
 * never a runtime dependency.
 *
 * A new kind is added to {@link ErrorKind} and then to each table below: the `Record` types make a
 * missing mapping a compile error.
 *
 * @example
 *   const { code, status } = ERRORS.invalid_credentials;   // 'INVALID_CREDENTIALS', 401
 */

export type ErrorKind =
  | 'validation_failed'
  | 'payload_too_large'
  | 'refused_value'
  | 'invalid_credentials'
  | 'invalid_refresh_token'
  | 'invalid_code'
  | 'invalid_mfa_token'
  | 'invalid_passkey'
  | 'missing_authorization'
  | 'malformed_authorization'
  | 'invalid_access_token'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'rate_limited'
  | 'service_unavailable'
  | 'feed_unavailable'
  | 'internal_error'
  | 'signup_disabled'
  | 'email_not_verified'
  | 'invalid_link_token'
  | 'request_timeout'
  | 'cross_origin_refused'
  | `oidc_${OidcRefusalReason}`;

/**
 * Why an OpenID sign-in was refused: also the `?error=` a browser is sent back with and, upper-cased,
 * the envelope's code.
 */
export type OidcRefusalReason =
  | 'redirect_not_allowed'
  | 'invalid_state'
  | 'access_denied'
  | 'invalid_grant'
  | 'invalid_id_token'
  | 'email_not_verified'
  | 'domain_not_allowed'
  | 'signup_disabled'
  | 'account_disabled'
  | 'provider_unavailable';

export type ErrorCode =
  | 'VALIDATION_ERROR'
  | 'INVALID_CREDENTIALS'
  | 'INVALID_REFRESH_TOKEN'
  | 'INVALID_CODE'
  | 'INVALID_TOKEN'
  | 'INVALID_PASSKEY'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL_ERROR'
  | 'SIGNUP_DISABLED'
  | 'EMAIL_NOT_VERIFIED'
  | 'REQUEST_TIMEOUT'
  | Uppercase<OidcRefusalReason>;

export interface WireError {
  /** The envelope's `error.code`. */
  readonly code: ErrorCode;
  /** The HTTP status. */
  readonly status: number;
}

/**
 * Codes and statuses. Where a kind is listed before another with the same flat sentence and status, a
 * flat client reads the sentence as the former (a 401 "invalid or expired token" is an access token's).
 */
export const ERRORS = {
  validation_failed: { code: 'VALIDATION_ERROR', status: 400 },
  payload_too_large: { code: 'VALIDATION_ERROR', status: 413 },
  refused_value: { code: 'VALIDATION_ERROR', status: 400 },
  invalid_credentials: { code: 'INVALID_CREDENTIALS', status: 401 },
  invalid_refresh_token: { code: 'INVALID_REFRESH_TOKEN', status: 401 },
  missing_authorization: { code: 'UNAUTHORIZED', status: 401 },
  malformed_authorization: { code: 'UNAUTHORIZED', status: 401 },
  invalid_access_token: { code: 'UNAUTHORIZED', status: 401 },
  invalid_code: { code: 'INVALID_CODE', status: 401 },
  invalid_mfa_token: { code: 'INVALID_TOKEN', status: 401 },
  invalid_passkey: { code: 'INVALID_PASSKEY', status: 401 },
  forbidden: { code: 'FORBIDDEN', status: 403 },
  not_found: { code: 'NOT_FOUND', status: 404 },
  method_not_allowed: { code: 'METHOD_NOT_ALLOWED', status: 405 },
  conflict: { code: 'CONFLICT', status: 409 },
  rate_limited: { code: 'RATE_LIMITED', status: 429 },
  service_unavailable: { code: 'SERVICE_UNAVAILABLE', status: 503 },
  feed_unavailable: { code: 'SERVICE_UNAVAILABLE', status: 503 },
  internal_error: { code: 'INTERNAL_ERROR', status: 500 },
  signup_disabled: { code: 'SIGNUP_DISABLED', status: 403 },
  email_not_verified: { code: 'EMAIL_NOT_VERIFIED', status: 403 },
  invalid_link_token: { code: 'INVALID_TOKEN', status: 400 },
  request_timeout: { code: 'REQUEST_TIMEOUT', status: 408 },
  cross_origin_refused: { code: 'FORBIDDEN', status: 403 },
  oidc_redirect_not_allowed: { code: 'REDIRECT_NOT_ALLOWED', status: 400 },
  oidc_invalid_state: { code: 'INVALID_STATE', status: 400 },
  oidc_access_denied: { code: 'ACCESS_DENIED', status: 401 },
  oidc_invalid_grant: { code: 'INVALID_GRANT', status: 401 },
  oidc_invalid_id_token: { code: 'INVALID_ID_TOKEN', status: 401 },
  oidc_email_not_verified: { code: 'EMAIL_NOT_VERIFIED', status: 403 },
  oidc_domain_not_allowed: { code: 'DOMAIN_NOT_ALLOWED', status: 403 },
  oidc_signup_disabled: { code: 'SIGNUP_DISABLED', status: 403 },
  oidc_account_disabled: { code: 'ACCOUNT_DISABLED', status: 403 },
  oidc_provider_unavailable: { code: 'PROVIDER_UNAVAILABLE', status: 503 },
} as const satisfies Readonly<Record<ErrorKind, WireError>>;

/** The kind's own message, for kinds whose text depends on the cause (which name is taken, which field). */
export const OWN_MESSAGE = null;

/**
 * The flat ("Vega AI") style's `{"error": sentence}` (SPEC §5's error table). {@link OWN_MESSAGE}: the
 * error's own message (a refused value's is prefixed with its field).
 */
export const FLAT_SENTENCES = {
  validation_failed: 'invalid request body',
  payload_too_large: 'invalid request body',
  refused_value: OWN_MESSAGE,
  invalid_credentials: 'invalid username or password',
  invalid_refresh_token: 'failed to refresh access token',
  missing_authorization: 'missing authorization header',
  malformed_authorization: 'invalid authorization header format',
  invalid_access_token: 'invalid or expired token',
  invalid_code: 'invalid code',
  invalid_mfa_token: 'invalid or expired token',
  invalid_passkey: 'invalid passkey',
  forbidden: OWN_MESSAGE,
  not_found: OWN_MESSAGE,
  method_not_allowed: 'method not allowed',
  conflict: OWN_MESSAGE,
  rate_limited: 'Too many requests. Please try again later.',
  service_unavailable: 'service unavailable',
  feed_unavailable: 'revocation feed unavailable',
  internal_error: 'internal server error',
  signup_disabled: 'sign-up is disabled',
  email_not_verified: 'email not verified',
  invalid_link_token: 'invalid or expired token',
  request_timeout: 'request timed out',
  cross_origin_refused: 'cross-origin request refused',
  // Vega AI's wording for a refused code ("failed to exchange code for JWT"), which its extension shows.
  oidc_redirect_not_allowed: 'redirect_to is not an allowed origin',
  oidc_invalid_state: 'the sign-in state is missing, expired, already used or does not match',
  oidc_access_denied: 'the identity provider did not grant access',
  oidc_invalid_grant: 'failed to exchange code for JWT',
  oidc_invalid_id_token: 'invalid id token',
  oidc_email_not_verified: 'the identity provider has not verified the email address',
  oidc_domain_not_allowed: "the account's domain is not allowed",
  oidc_signup_disabled: 'no account is linked to this identity',
  oidc_account_disabled: 'the account is disabled',
  oidc_provider_unavailable: 'the identity provider could not be reached',
} as const satisfies Readonly<Record<ErrorKind, string | typeof OWN_MESSAGE>>;

/** The envelope ("Vulcan") style's `error.message`. {@link OWN_MESSAGE}: the error's own, capitalised. */
export const ENVELOPE_MESSAGES = {
  validation_failed: 'Invalid input',
  payload_too_large: 'Invalid input',
  refused_value: 'Invalid input',
  invalid_credentials: 'Invalid email or password',
  invalid_refresh_token: 'Invalid or expired refresh token',
  missing_authorization: 'Missing authorization header',
  malformed_authorization: 'Invalid authorization header format',
  invalid_access_token: 'Invalid or expired token',
  invalid_code: 'Invalid code',
  invalid_mfa_token: 'Invalid or expired token',
  invalid_passkey: 'Invalid passkey',
  forbidden: OWN_MESSAGE,
  not_found: OWN_MESSAGE,
  method_not_allowed: 'Method not allowed',
  conflict: OWN_MESSAGE,
  rate_limited: 'Too many requests. Please try again later.',
  service_unavailable: 'Service unavailable',
  feed_unavailable: 'Revocation feed unavailable',
  internal_error: 'Internal server error',
  signup_disabled: 'Sign-up is disabled',
  email_not_verified: 'Email not verified',
  invalid_link_token: 'Invalid or expired token',
  request_timeout: 'Request timed out',
  cross_origin_refused: 'Cross-origin request refused',
  oidc_redirect_not_allowed: 'Redirect_to is not an allowed origin',
  oidc_invalid_state: 'The sign-in state is missing, expired, already used or does not match',
  oidc_access_denied: 'The identity provider did not grant access',
  oidc_invalid_grant: 'Failed to exchange code for JWT',
  oidc_invalid_id_token: 'Invalid id token',
  oidc_email_not_verified: 'The identity provider has not verified the email address',
  oidc_domain_not_allowed: "The account's domain is not allowed",
  oidc_signup_disabled: 'No account is linked to this identity',
  oidc_account_disabled: 'The account is disabled',
  oidc_provider_unavailable: 'The identity provider could not be reached',
} as const satisfies Readonly<Record<ErrorKind, string | typeof OWN_MESSAGE>>;

/** The envelope's spelling of a message the error carries itself: its first letter capitalised. */
export function capitalised(message: string): string {
  return message.charAt(0).toUpperCase() + message.slice(1);
}
