/**
 * `latchkey users import FILE`: users with their existing password hashes, from a JSON or CSV file
 * (`username`, `email`, `role`, `password_hash`) or straight from a Vega AI SQLite database (its `users`
 * table: integer role 0 = ADMIN, 1 = STANDARD, bcrypt `$2a$` hashes). Hashes are kept as they are and
 * upgraded to the configured algorithm on each user's first login. Existing usernames are skipped, so
 * a re-run imports nothing new; a second row for the same user in one file is refused. A runtime error
 * part-way throws {@link ImportInterrupted} with what was done before it.
 *
 * @example
 *   const source = readImportSource('./vega.db');          // format guessed from the content
 *   const report = await importUsers(core, source, { actorUserId: null });
 *   report.imported.length; report.skipped;                 // never a hash in either
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import type { RequestContext } from '../audit.ts';
import type { Role } from '../config.ts';
import { Conflict, RefusedValue } from '../errors.ts';
import type { AccountService } from './accounts.ts';
import { emailKey, usernameKey } from './identifiers.ts';
import { parseCsvRows } from './import/csv.ts';
import { parseJsonRows } from './import/json.ts';
import { ImportFileError, type ImportFormat, type ImportSource, type SourceRow } from './import/source.ts';
import { readVegaRows } from './import/vega.ts';
import { type UserStore, checkEmail, checkUsername } from './users.ts';

export { ImportFileError, type ImportFormat, type ImportSource, type SourceRow, parseCsvRows, parseJsonRows };
export const IMPORT_FORMATS: readonly ImportFormat[] = ['json', 'csv', 'vega'];

export interface SkippedRow {
  readonly ref: string;
  readonly username: string | null;
  /** `exists`: the username is already taken (a re-run); `refused`: the row breaks a rule or repeats an earlier row's user. */
  readonly kind: 'exists' | 'refused';
  readonly reason: string;
}

export interface ImportReport {
  readonly format: ImportFormat;
  readonly imported: readonly { readonly ref: string; readonly username: string; readonly id: number }[];
  readonly skipped: readonly SkippedRow[];
}

type ImportedRow = ImportReport['imported'][number];

/**
 * An error that is not about a row (the database went away) stopped the import at `ref`. The users in
 * `report` were created before it and stay: a re-run skips them and carries on.
 */
export class ImportInterrupted extends Error {
  override readonly name = 'ImportInterrupted';
  constructor(
    /** What was imported and skipped before the error. */
    readonly report: ImportReport,
    /** The row being imported when the error came. */
    readonly ref: string,
    /**
     * That row and every row after it. (Should the audit write fail after the user was created, that row's
     * user does exist: a re-run shows it as existing.)
     */
    readonly notImported: number,
    cause: unknown,
  ) {
    super(`import stopped at ${ref}: ${cause instanceof Error ? cause.message || cause.name : String(cause)}`, { cause });
  }
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/** Guesses the format from the first bytes: the SQLite header, a JSON bracket, else CSV. */
export function guessFormat(path: string): ImportFormat {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(64);
  let read: number;
  try {
    read = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (read >= SQLITE_MAGIC.length && head.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) return 'vega';
  const text = head
    .subarray(0, read)
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart();
  return text.startsWith('[') || text.startsWith('{') ? 'json' : 'csv';
}

/** Reads the rows of an import file (one reader per format, in ./import/); the format is guessed when not given. Throws {@link ImportFileError}. */
export function readImportSource(path: string, format?: ImportFormat): ImportSource {
  const chosen = format ?? guessFormat(path);
  if (chosen === 'vega') return { format: chosen, rows: readVegaRows(path) };
  const text = readFileSync(path, 'utf8');
  // The CSV reader strips a BOM itself; JSON.parse does not.
  return { format: chosen, rows: chosen === 'json' ? parseJsonRows(text.replace(/^\uFEFF/, '')) : parseCsvRows(text) };
}

// Modular crypt formats that PasswordHasher verifies; anything else would be a user who can never log in.
const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
const ARGON2_HASH = /^\$argon2(id|i|d)\$(v=\d+\$)?m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
/**
 * The most a stored hash may cost to verify. A hash is verified at its own parameters on every login, so an
 * imported `$2b$31$…` would hold a hash thread for about a day, and an argon2 `m=` of gigabytes would take the
 * memory: one such row makes every login attempt at that user name a denial of service. Far above what
 * anyone configures (bcrypt 10–12; argon2id m=19456–65536, t=1–3).
 */
const MAX_BCRYPT_COST = 15;
const MAX_ARGON2 = { memoryKiB: 262_144, time: 16, parallelism: 16 } as const;

/** The reason a well-formed hash is refused for its cost, or undefined when it is within bounds. */
function tooCostly(hash: string): string | undefined {
  const bcrypt = BCRYPT_HASH.exec(hash);
  if (bcrypt) return Number(bcrypt[1]) > MAX_BCRYPT_COST ? `costs more than bcrypt ${MAX_BCRYPT_COST} to verify` : undefined;
  const argon2 = ARGON2_HASH.exec(hash);
  if (
    argon2 &&
    (Number(argon2[3]) > MAX_ARGON2.memoryKiB || Number(argon2[4]) > MAX_ARGON2.time || Number(argon2[5]) > MAX_ARGON2.parallelism)
  ) {
    return `costs more than argon2 m=${MAX_ARGON2.memoryKiB},t=${MAX_ARGON2.time},p=${MAX_ARGON2.parallelism} to verify`;
  }
  return undefined;
}

interface ImportUser {
  readonly username: string;
  readonly email: string | null;
  readonly role: Role;
  readonly passwordHash: string | null;
}

function blank(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

/** Checks one source row; a refusal names the field, never its value when it is a hash. */
function checkRow(row: SourceRow): ImportUser {
  if (row.problem !== undefined) throw new RefusedValue('row', row.problem);
  if (typeof row.username !== 'string') throw new RefusedValue('username', 'is missing');
  checkUsername(row.username);
  let email: string | null = null;
  if (!blank(row.email)) {
    if (typeof row.email !== 'string') throw new RefusedValue('email', 'must be an email address');
    checkEmail(row.email);
    email = row.email;
  }
  let role: Role = 'STANDARD';
  if (!blank(row.role)) {
    // Vega's role strings are "Admin" and "Standard".
    const upper = typeof row.role === 'string' ? row.role.trim().toUpperCase() : undefined;
    if (upper !== 'ADMIN' && upper !== 'STANDARD') throw new RefusedValue('role', 'must be ADMIN or STANDARD (Vega: 0 or 1)');
    role = upper;
  }
  let passwordHash: string | null = null;
  if (!blank(row.passwordHash)) {
    if (typeof row.passwordHash !== 'string' || !(BCRYPT_HASH.test(row.passwordHash) || ARGON2_HASH.test(row.passwordHash))) {
      throw new RefusedValue('password_hash', 'is not a bcrypt or argon2 hash');
    }
    const costly = tooCostly(row.passwordHash);
    if (costly !== undefined) throw new RefusedValue('password_hash', costly);
    passwordHash = row.passwordHash;
  }
  return { username: row.username, email, role, passwordHash };
}

export interface ImportDeps {
  readonly users: UserStore;
  readonly accounts: AccountService;
}

/**
 * Creates the users of `source` that do not exist yet (each audited as `user_created`). A row whose
 * username exists is skipped as `exists`; a row that breaks a rule, or names the same username or email
 * as an earlier row of the file, is skipped as `refused`. A row with no password hash becomes an account
 * without a password (Google sign-in, or a password set by an admin). Any other error stops the import
 * with {@link ImportInterrupted}.
 */
export async function importUsers(deps: ImportDeps, source: ImportSource, ctx: RequestContext = {}): Promise<ImportReport> {
  const imported: ImportedRow[] = [];
  const skipped: SkippedRow[] = [];
  const firstRows = new Map<string, string>();
  for (const [index, row] of source.rows.entries()) {
    const earlier = earlierRowOfSameUser(firstRows, row);
    try {
      const outcome = await importRow(deps, source.format, row, earlier, ctx);
      if ('id' in outcome) imported.push(outcome);
      else skipped.push(outcome);
    } catch (error) {
      // Without this the caller would see only the error, not that the rows before it were created.
      throw new ImportInterrupted({ format: source.format, imported, skipped }, row.ref, source.rows.length - index, error);
    }
  }
  return { format: source.format, imported, skipped };
}

/**
 * Remembers the row's username and email (compared as the database compares them) and returns which of
 * them an earlier row of the file already had, with that row. Two rows for one user make the file
 * ambiguous: importing the first and calling the second `exists` would drop its data silently, and a re-run
 * could not tell it from a harmless repeat. Refused rows count too, so fixing the first row later does not
 * turn the second into a silent skip.
 */
function earlierRowOfSameUser(firstRows: Map<string, string>, row: SourceRow): string | undefined {
  const keys: [string, string][] = [];
  if (typeof row.username === 'string') keys.push(['username', `username ${usernameKey(row.username)}`]);
  if (typeof row.email === 'string' && !blank(row.email)) keys.push(['email', `email ${emailKey(row.email)}`]);
  let earlier: string | undefined;
  for (const [field, key] of keys) {
    const ref = firstRows.get(key);
    if (ref === undefined) firstRows.set(key, row.ref);
    else earlier ??= `same ${field} as ${ref}`;
  }
  return earlier;
}

/** Imports one row; throws only what is not about the row itself. */
async function importRow(
  deps: ImportDeps,
  format: ImportFormat,
  row: SourceRow,
  earlier: string | undefined,
  ctx: RequestContext,
): Promise<ImportedRow | SkippedRow> {
  const name = typeof row.username === 'string' ? row.username : null;
  const refused = (reason: string): SkippedRow => ({ ref: row.ref, username: name, kind: 'refused', reason });
  const exists: SkippedRow = { ref: row.ref, username: name, kind: 'exists', reason: 'username exists' };
  let user: ImportUser;
  try {
    user = checkRow(row);
  } catch (error) {
    if (!(error instanceof RefusedValue)) throw error;
    return refused(`${error.field} ${error.message}`);
  }
  // Before the database: a re-run must refuse the second row again, not find its username taken by the first.
  if (earlier !== undefined) return refused(`duplicate in file: ${earlier}`);
  if (await deps.users.findByUsername(user.username)) return exists;
  let email = user.email;
  if (format === 'vega' && email === null && isEmail(user.username) && !(await deps.users.findByIdentifier(user.username))) {
    // Vega's usernames are usually the Google email; keeping it as the email lets Google sign-in find
    // the account by verified email, as Vega itself did.
    email = user.username;
  }
  try {
    const created = await deps.accounts.create({ username: user.username, email, role: user.role, passwordHash: user.passwordHash }, ctx);
    return { ref: row.ref, username: created.username, id: created.id };
  } catch (error) {
    if (error instanceof Conflict) {
      // The username was checked above, so this is the email (or a concurrent import of the same name).
      return (await deps.users.findByUsername(user.username)) ? exists : refused('email is taken by another user');
    }
    if (error instanceof RefusedValue) return refused(`${error.field} ${error.message}`);
    throw error;
  }
}

function isEmail(value: string): boolean {
  try {
    checkEmail(value);
    return true;
  } catch {
    return false;
  }
}
