/**
 * Latchkey's one error hierarchy. Domain code throws these; the wire styles (`http/styles/`) decide
 * how each looks on the wire. Every error has a `kind` of the shared wire contract (`wire/errors.ts`),
 * which gives its stable `code` and HTTP `status`.
 *
 * @example
 *   if (!user) throw new InvalidCredentials();
 */

import { ERRORS, type ErrorCode, type ErrorKind } from './wire/errors.ts';

export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

export abstract class LatchkeyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
    this.code = ERRORS[kind].code;
    this.status = ERRORS[kind].status;
  }
}

/** The request body or query is malformed: bad JSON, wrong types, missing fields. */
export class ValidationFailed extends LatchkeyError {
  constructor(readonly details: readonly FieldProblem[]) {
    super('validation_failed', details.map((d) => `${d.field}: ${d.message}`).join('; ') || 'invalid request body');
  }
}

export class PayloadTooLarge extends LatchkeyError {
  constructor() {
    super('payload_too_large', 'request body is larger than 64 KiB');
  }
}

/** Wrong identifier or password, unknown user, disabled user, or a password-less (Google-only) account. */
export class InvalidCredentials extends LatchkeyError {
  constructor() {
    super('invalid_credentials', 'invalid username or password');
  }
}

/** A refresh token that is malformed, expired, spent, revoked or belongs to a disabled user. */
export class InvalidRefreshToken extends LatchkeyError {
  constructor(readonly reason: string) {
    super('invalid_refresh_token', `invalid refresh token: ${reason}`);
  }
}

/** A spent refresh token came back after the grace: the session was revoked (RFC 9700 §4.14.2). */
export class RefreshTokenReused extends InvalidRefreshToken {
  constructor(readonly sessionId: string) {
    super('refresh token reuse');
  }
}

/** A wrong second-factor code (TOTP or recovery code) for a live `mfa_token` or a Bearer factor change. */
export class InvalidCode extends LatchkeyError {
  constructor() {
    super('invalid_code', 'invalid code');
  }
}

/** An `mfa_token` (or passkey challenge) that is unknown, expired, spent, or dead after five wrong codes. */
export class InvalidMfaToken extends LatchkeyError {
  constructor(readonly reason: string) {
    super('invalid_mfa_token', 'invalid or expired token');
  }
}

/** A passkey assertion or attestation that does not verify (origin, RP ID, signature, counter, unknown key). */
export class InvalidPasskey extends LatchkeyError {
  constructor(readonly reason: string) {
    super('invalid_passkey', 'invalid passkey');
  }
}

export class MissingAuthorization extends LatchkeyError {
  constructor() {
    super('missing_authorization', 'missing authorization header');
  }
}

export class MalformedAuthorization extends LatchkeyError {
  constructor() {
    super('malformed_authorization', 'invalid authorization header format');
  }
}

/** A bad, expired or revoked access token. */
export class InvalidAccessToken extends LatchkeyError {
  constructor(readonly reason: string) {
    super('invalid_access_token', `invalid or expired token: ${reason}`);
  }
}

export class Forbidden extends LatchkeyError {
  constructor(message = 'forbidden') {
    super('forbidden', message);
  }
}

export class NotFound extends LatchkeyError {
  constructor(message = 'not found') {
    super('not_found', message);
  }
}

export class MethodNotAllowed extends LatchkeyError {
  constructor(readonly allow: readonly string[]) {
    super('method_not_allowed', 'method not allowed');
  }
}

/** A uniqueness rule was broken (username or email taken) or an operation conflicts with state. */
export class Conflict extends LatchkeyError {
  constructor(message: string) {
    super('conflict', message);
  }
}

/** A new password or other value that the rules refuse (too short, too common, over 72 bytes for bcrypt). */
export class RefusedValue extends LatchkeyError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('refused_value', message);
  }
}

export class RateLimited extends LatchkeyError {
  constructor(
    readonly retryAfterSeconds: number,
    readonly limit: string,
  ) {
    super('rate_limited', 'Too many requests. Please try again later.');
  }
}

/** A dependency (database, Redis) does not answer. Which one is logged and shown by `/readyz`, not sent. */
export class ServiceUnavailable extends LatchkeyError {
  constructor(readonly dependency: string) {
    super('service_unavailable', 'service unavailable');
  }
}

/** Anything unexpected; the cause is logged, never sent. */
export class InternalError extends LatchkeyError {
  constructor() {
    super('internal_error', 'internal server error');
  }
}

/** `POST /register` while LATCHKEY_SIGNUP is `off` (SPEC §10). */
export class SignupDisabled extends LatchkeyError {
  constructor() {
    super('signup_disabled', 'sign-up is disabled');
  }
}

/** In `verify` mode, a right password for a user whose address is not confirmed yet (SPEC §10). */
export class EmailNotVerified extends LatchkeyError {
  constructor() {
    super('email_not_verified', 'email not verified');
  }
}

/** A link token (verification, reset, email change) that is unknown, used, expired or of another purpose. */
export class InvalidLinkToken extends LatchkeyError {
  constructor() {
    super('invalid_link_token', 'invalid or expired token');
  }
}

/** The client did not send the whole request within LATCHKEY_REQUEST_TIMEOUT (a slowly trickled body). */
export class RequestTimeout extends LatchkeyError {
  constructor() {
    super('request_timeout', 'request timed out');
  }
}

/** A cookie-setting or cookie-reading request came from an origin that is not ours nor allowed (login CSRF). */
export class CrossOriginRefused extends LatchkeyError {
  constructor() {
    super('cross_origin_refused', 'cross-origin request refused');
  }
}
