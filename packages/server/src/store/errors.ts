/**
 * What the two engines' error codes mean, in one place: a broken unique index (a taken name), a lost
 * serializable race, and a database that is away. Callers ask these questions instead of comparing
 * SQLSTATEs or SQLite codes themselves.
 */

function codeOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

/** SQLite (SQLITE_CONSTRAINT_UNIQUE / PRIMARYKEY) and PostgreSQL (23505) unique-index violations. */
export function isUniqueViolation(error: unknown): boolean {
  const code = codeOf(error);
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * PostgreSQL's serialization failure (40001): a concurrent serializable transaction won. SQLite never
 * answers it: it serialises writers instead.
 */
export function isSerializationFailure(error: unknown): boolean {
  return codeOf(error) === '40001';
}

/**
 * Tells a database that is away (refused, reset, timed out, shutting down) from a query that is wrong.
 * The former is a 503 that heals by itself; the latter is a bug.
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);

export function isUnavailableError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return true;
    // PostgreSQL SQLSTATE classes 08 (connection exception), 53 (insufficient resources: too many
    // connections, out of memory, disk full) and 57P (operator intervention: shutdown, starting up).
    if (/^08/.test(code) || /^53/.test(code) || /^57P0[1-3]$/.test(code)) return true;
    // SQLite: another process holds the write lock past the busy timeout (SQLITE_BUSY, _SNAPSHOT, _TIMEOUT).
    if (code.startsWith('SQLITE_BUSY')) return true;
  }
  if (typeof message === 'string') {
    return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Cannot use a pool after calling end/i.test(
      message,
    );
  }
  return false;
}
