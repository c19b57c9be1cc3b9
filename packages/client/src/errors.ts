/**
 * The one error type of `@latchkey/client`: the HTTP `status` and the server's `code`. The envelope
 * style sends a code; the flat style sends only a sentence, mapped here to the envelope's code, so
 * that application code can branch on `code` whatever the deployment's style.
 *
 * @example
 *   try { await auth.login({ username, password }) }
 *   catch (e) { if (e instanceof LatchkeyError && e.code === 'INVALID_CREDENTIALS') showWrongPassword() }
 */
import { ERRORS, FLAT_SENTENCES, OWN_MESSAGE, type ErrorKind } from './wire/errors.ts';

export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

export class LatchkeyError extends Error {
  override readonly name = 'LatchkeyError';
  constructor(
    /** The HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    /** `INVALID_CREDENTIALS`, `INVALID_REFRESH_TOKEN`, `UNAUTHORIZED`, `VALIDATION_ERROR`, `RATE_LIMITED`, … */
    readonly code: string,
    message: string,
    readonly details?: readonly FieldProblem[],
  ) {
    super(message);
  }
}

/**
 * The flat style's sentences and their envelope codes, from the shared wire contract. Keyed by status and
 * sentence, since one sentence can mean two codes: a 400 "invalid or expired token" is a mailed link's
 * token (INVALID_TOKEN), a 401 an access token's (UNAUTHORIZED: the contract lists that kind first).
 */
const FLAT_CODES = new Map<string, string>();
for (const kind of Object.keys(FLAT_SENTENCES) as ErrorKind[]) {
  const sentence = FLAT_SENTENCES[kind];
  const key = `${ERRORS[kind].status} ${sentence}`;
  if (sentence !== OWN_MESSAGE && !FLAT_CODES.has(key)) FLAT_CODES.set(key, ERRORS[kind].code);
}

/** Sentences the server words by cause (a Conflict or Forbidden message): the status gives their code. */
function flatCode(status: number, sentence: string): string | undefined {
  return FLAT_CODES.get(`${status} ${sentence}`);
}

/** A code from the status alone, for sentences not in the table (e.g. a refused new password). */
function codeOfStatus(status: number): string {
  if (status === 400 || status === 413) return 'VALIDATION_ERROR';
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'CONFLICT';
  if (status === 429) return 'RATE_LIMITED';
  if (status === 503) return 'SERVICE_UNAVAILABLE';
  return 'INTERNAL_ERROR';
}

/** The error of a non-2xx response, in either style (or neither: a proxy's HTML page). */
export async function errorOfResponse(response: Response): Promise<LatchkeyError> {
  let body: unknown;
  try {
    body = JSON.parse(await response.text());
  } catch {
    body = undefined;
  }
  const error = (body as { error?: unknown } | undefined)?.error;
  if (typeof error === 'string')
    return new LatchkeyError(response.status, flatCode(response.status, error) ?? codeOfStatus(response.status), error);
  if (typeof error === 'object' && error !== null) {
    const { code, message, details } = error as { code?: unknown; message?: unknown; details?: unknown };
    return new LatchkeyError(
      response.status,
      typeof code === 'string' ? code : codeOfStatus(response.status),
      typeof message === 'string' ? message : response.statusText,
      Array.isArray(details) ? (details as FieldProblem[]) : undefined,
    );
  }
  return new LatchkeyError(response.status, codeOfStatus(response.status), response.statusText || `HTTP ${response.status}`);
}

export function networkError(cause: unknown): LatchkeyError {
  const error = new LatchkeyError(0, 'NETWORK_ERROR', cause instanceof Error ? cause.message : 'network error');
  (error as { cause?: unknown }).cause = cause;
  return error;
}

/** The flat style's 401 sentences about the access token itself (the envelope says UNAUTHORIZED for all three). */
const TOKEN_REFUSALS: ReadonlySet<string> = new Set([
  FLAT_SENTENCES.invalid_access_token,
  FLAT_SENTENCES.missing_authorization,
  FLAT_SENTENCES.malformed_authorization,
]);

/**
 * Whether the body of a 401 refuses the access token (missing, malformed, bad, expired, revoked), in either
 * wire style, rather than something the user typed (a wrong TOTP code on a signed-in request): only the
 * former means "refresh and retry". A body that is not a JSON object says nothing else, so it counts as one.
 */
export function refusesAccessToken(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return true;
  const { error } = body as { error?: unknown };
  if (typeof error === 'string') return TOKEN_REFUSALS.has(error);
  if (typeof error === 'object' && error !== null) return (error as { code?: unknown }).code === 'UNAUTHORIZED';
  return true;
}
