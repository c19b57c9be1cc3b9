/**
 * The errors a verifier rejects with: a stable `code` and the HTTP `status` a resource server should
 * answer with. `reason` says why, for logs; it is never sent to the caller. Codes, statuses and both
 * styles' wording come from Latchkey's shared wire contract (`wire/errors.ts`), compiled into this package.
 *
 * @example
 *   try { await verifier.verify(token) } catch (e) { if (e instanceof LatchkeyError) reply.code(e.status) }
 */
import { ENVELOPE_MESSAGES, ERRORS, FLAT_SENTENCES, capitalised } from './wire/errors.ts';

/** The kinds of the wire contract a verifier answers with. */
const VERIFY_KINDS = [
  'missing_authorization',
  'malformed_authorization',
  'invalid_access_token',
  'forbidden',
  'feed_unavailable',
  'internal_error',
] as const;
export type VerifyErrorKind = (typeof VERIFY_KINDS)[number];

export type VerifyErrorCode = (typeof ERRORS)[VerifyErrorKind]['code'];

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

/**
 * The flat sentence of each kind. The server words a 403 by its cause (which domain, which rule); a
 * verifier's 403 says only "forbidden", as the server's does when it names no cause.
 */
function sentenceOf(kind: VerifyErrorKind): string {
  return FLAT_SENTENCES[kind] ?? 'forbidden';
}

/** The envelope's message for a verifier error's flat sentence; undefined for one it did not word. */
export function envelopeMessage(sentence: string): string | undefined {
  const kind = VERIFY_KINDS.find((k) => sentenceOf(k) === sentence);
  return kind === undefined ? undefined : (ENVELOPE_MESSAGES[kind] ?? capitalised(sentence));
}

/** An error of `kind`, carrying the flat style's sentence (the envelope's message is looked up from it). */
function ofKind(kind: VerifyErrorKind, reason?: string): LatchkeyError {
  const { status, code } = ERRORS[kind];
  return new LatchkeyError(status, code, sentenceOf(kind), reason);
}

/** No Authorization header. */
export function missingAuthorization(): LatchkeyError {
  return ofKind('missing_authorization');
}

/** An Authorization header that is not `Bearer <token>`. */
export function malformedAuthorization(): LatchkeyError {
  return ofKind('malformed_authorization');
}

/** A bad, expired, forged or revoked access token. */
export function invalidToken(reason: string): LatchkeyError {
  return ofKind('invalid_access_token', reason);
}

export function forbidden(reason: string): LatchkeyError {
  return ofKind('forbidden', reason);
}

/** The revocation feed is down and the verifier is configured to fail closed. */
export function feedUnavailable(): LatchkeyError {
  return ofKind('feed_unavailable');
}

/** Anything unexpected while answering (a bug, a throwing handler): a 500, never a 503 that would invite a retry. */
export function internalError(): LatchkeyError {
  return ofKind('internal_error');
}
