/**
 * The errors a verifier rejects with: a stable `code` and the HTTP `status` a resource server should
 * answer with. `reason` says why, for logs; it is never sent to the caller.
 *
 * @example
 *   try { await verifier.verify(token) } catch (e) { if (e instanceof LatchkeyError) reply.code(e.status) }
 */
export type VerifyErrorCode = 'UNAUTHORIZED' | 'FORBIDDEN' | 'SERVICE_UNAVAILABLE';

export class LatchkeyError extends Error {
  override readonly name = 'LatchkeyError';
  constructor(
    readonly status: number,
    readonly code: VerifyErrorCode,
    message: string,
    readonly reason: string = message,
  ) {
    super(message);
  }
}

/** No Authorization header. */
export function missingAuthorization(): LatchkeyError {
  return new LatchkeyError(401, 'UNAUTHORIZED', 'missing authorization header');
}

/** An Authorization header that is not `Bearer <token>`. */
export function malformedAuthorization(): LatchkeyError {
  return new LatchkeyError(401, 'UNAUTHORIZED', 'invalid authorization header format');
}

/** A bad, expired, forged or revoked access token. */
export function invalidToken(reason: string): LatchkeyError {
  return new LatchkeyError(401, 'UNAUTHORIZED', 'invalid or expired token', reason);
}

export function forbidden(reason: string): LatchkeyError {
  return new LatchkeyError(403, 'FORBIDDEN', 'forbidden', reason);
}

/** The revocation feed is down and the verifier is configured to fail closed. */
export function feedUnavailable(): LatchkeyError {
  return new LatchkeyError(503, 'SERVICE_UNAVAILABLE', 'revocation feed unavailable');
}
