/**
 * The one error type of `@latchkey/client`: the HTTP `status` and the server's `code`. The envelope
 * style sends a code; the flat style sends only a sentence, mapped here to the envelope's code, so
 * that application code can branch on `code` whatever the deployment's style.
 *
 * @example
 *   try { await auth.login({ username, password }) }
 *   catch (e) { if (e instanceof LatchkeyError && e.code === 'INVALID_CREDENTIALS') showWrongPassword() }
 */
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

/** The flat style's sentences (the error table of docs/api.md) and their envelope codes. */
const FLAT_CODES: Readonly<Record<string, string>> = {
  'invalid request body': 'VALIDATION_ERROR',
  'invalid username or password': 'INVALID_CREDENTIALS',
  'failed to refresh access token': 'INVALID_REFRESH_TOKEN',
  'missing authorization header': 'UNAUTHORIZED',
  'invalid authorization header format': 'UNAUTHORIZED',
  'invalid or expired token': 'UNAUTHORIZED',
  forbidden: 'FORBIDDEN',
  'not found': 'NOT_FOUND',
  'method not allowed': 'METHOD_NOT_ALLOWED',
  'Too many requests. Please try again later.': 'RATE_LIMITED',
  'internal server error': 'INTERNAL_ERROR',
  'revocation feed unavailable': 'SERVICE_UNAVAILABLE',
  // Accounts by email (SPEC §10).
  'sign-up is disabled': 'SIGNUP_DISABLED',
  'email not verified': 'EMAIL_NOT_VERIFIED',
  'username already taken': 'CONFLICT',
  'email already taken': 'CONFLICT',
  'email domain not allowed': 'FORBIDDEN',
  // Second factors (SPEC §11).
  'invalid code': 'INVALID_CODE',
  'invalid passkey': 'INVALID_PASSKEY',
};

/** A sentence whose code depends on the status: a 400 "invalid or expired token" is a mailed link's token. */
function flatCode(status: number, sentence: string): string | undefined {
  if (status === 400 && sentence === 'invalid or expired token') return 'INVALID_TOKEN';
  return FLAT_CODES[sentence];
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
  if (typeof error === 'string') return new LatchkeyError(response.status, flatCode(response.status, error) ?? codeOfStatus(response.status), error);
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
