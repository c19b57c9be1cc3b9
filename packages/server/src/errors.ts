/**
 * Latchkey's one error hierarchy. Domain code throws these; the wire styles (`http/styles/`) decide
 * how each looks on the wire. Every error has a stable `code` and an HTTP `status`.
 *
 * @example
 *   if (!user) throw new InvalidCredentials();
 */

export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

export abstract class LatchkeyError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
}

/** The request body or query is malformed: bad JSON, wrong types, missing fields. */
export class ValidationFailed extends LatchkeyError {
  readonly code = 'VALIDATION_ERROR';
  readonly status = 400;
  constructor(readonly details: readonly FieldProblem[]) {
    super(details.map((d) => `${d.field}: ${d.message}`).join('; ') || 'invalid request body');
  }
}

export class PayloadTooLarge extends LatchkeyError {
  readonly code = 'VALIDATION_ERROR';
  readonly status = 413;
  constructor() {
    super('request body is larger than 64 KiB');
  }
}

/** Wrong identifier or password, unknown user, disabled user, or a password-less (Google-only) account. */
export class InvalidCredentials extends LatchkeyError {
  readonly code = 'INVALID_CREDENTIALS';
  readonly status = 401;
  constructor() {
    super('invalid username or password');
  }
}

/** A refresh token that is malformed, expired, spent, revoked or belongs to a disabled user. */
export class InvalidRefreshToken extends LatchkeyError {
  readonly code = 'INVALID_REFRESH_TOKEN';
  readonly status = 401;
  constructor(readonly reason: string) {
    super(`invalid refresh token: ${reason}`);
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
  readonly code = 'INVALID_CODE';
  readonly status = 401;
  constructor() {
    super('invalid code');
  }
}

/** An `mfa_token` (or passkey challenge) that is unknown, expired, spent, or dead after five wrong codes. */
export class InvalidMfaToken extends LatchkeyError {
  readonly code = 'INVALID_TOKEN';
  readonly status = 401;
  constructor(readonly reason: string) {
    super('invalid or expired token');
  }
}

/** A passkey assertion or attestation that does not verify (origin, RP ID, signature, counter, unknown key). */
export class InvalidPasskey extends LatchkeyError {
  readonly code = 'INVALID_PASSKEY';
  readonly status = 401;
  constructor(readonly reason: string) {
    super('invalid passkey');
  }
}

export class MissingAuthorization extends LatchkeyError {
  readonly code = 'UNAUTHORIZED';
  readonly status = 401;
  constructor() {
    super('missing authorization header');
  }
}

export class MalformedAuthorization extends LatchkeyError {
  readonly code = 'UNAUTHORIZED';
  readonly status = 401;
  constructor() {
    super('invalid authorization header format');
  }
}

/** A bad, expired or revoked access token. */
export class InvalidAccessToken extends LatchkeyError {
  readonly code = 'UNAUTHORIZED';
  readonly status = 401;
  constructor(readonly reason: string) {
    super(`invalid or expired token: ${reason}`);
  }
}

export class Forbidden extends LatchkeyError {
  readonly code = 'FORBIDDEN';
  readonly status = 403;
  constructor(message = 'forbidden') {
    super(message);
  }
}

export class NotFound extends LatchkeyError {
  readonly code = 'NOT_FOUND';
  readonly status = 404;
  constructor(message = 'not found') {
    super(message);
  }
}

export class MethodNotAllowed extends LatchkeyError {
  readonly code = 'METHOD_NOT_ALLOWED';
  readonly status = 405;
  constructor(readonly allow: readonly string[]) {
    super('method not allowed');
  }
}

/** A uniqueness rule was broken (username or email taken) or an operation conflicts with state. */
export class Conflict extends LatchkeyError {
  readonly code = 'CONFLICT';
  readonly status = 409;
}

/** A new password or other value that the rules refuse (too short, too common, over 72 bytes for bcrypt). */
export class RefusedValue extends LatchkeyError {
  readonly code = 'VALIDATION_ERROR';
  readonly status = 400;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export class RateLimited extends LatchkeyError {
  readonly code = 'RATE_LIMITED';
  readonly status = 429;
  constructor(
    readonly retryAfterSeconds: number,
    readonly limit: string,
  ) {
    super('Too many requests. Please try again later.');
  }
}

/** A dependency (database, Redis) does not answer. Which one is logged and shown by `/readyz`, not sent. */
export class ServiceUnavailable extends LatchkeyError {
  readonly code = 'SERVICE_UNAVAILABLE';
  readonly status = 503;
  constructor(readonly dependency: string) {
    super('service unavailable');
  }
}

/** Anything unexpected; the cause is logged, never sent. */
export class InternalError extends LatchkeyError {
  readonly code = 'INTERNAL_ERROR';
  readonly status = 500;
  constructor() {
    super('internal server error');
  }
}

/** `POST /register` while LATCHKEY_SIGNUP is `off` (SPEC §10). */
export class SignupDisabled extends LatchkeyError {
  readonly code = 'SIGNUP_DISABLED';
  readonly status = 403;
  constructor() {
    super('sign-up is disabled');
  }
}

/** In `verify` mode, a right password for a user whose address is not confirmed yet (SPEC §10). */
export class EmailNotVerified extends LatchkeyError {
  readonly code = 'EMAIL_NOT_VERIFIED';
  readonly status = 403;
  constructor() {
    super('email not verified');
  }
}

/** A link token (verification, reset, email change) that is unknown, used, expired or of another purpose. */
export class InvalidLinkToken extends LatchkeyError {
  readonly code = 'INVALID_TOKEN';
  readonly status = 400;
  constructor() {
    super('invalid or expired token');
  }
}

/** The client did not send the whole request within LATCHKEY_REQUEST_TIMEOUT (a slowly trickled body). */
export class RequestTimeout extends LatchkeyError {
  readonly code = 'REQUEST_TIMEOUT';
  readonly status = 408;
  constructor() {
    super('request timed out');
  }
}

/** A cookie-setting or cookie-reading request came from an origin that is not ours nor allowed (login CSRF). */
export class CrossOriginRefused extends LatchkeyError {
  readonly code = 'FORBIDDEN';
  readonly status = 403;
  constructor() {
    super('cross-origin request refused');
  }
}
