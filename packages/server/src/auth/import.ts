/**
 * `latchkey users import FILE`: users with their existing password hashes, from a JSON or CSV file
 * (`username`, `email`, `role`, `password_hash`) or straight from a Vega AI SQLite database (its `users`
 * table: integer role 0 = ADMIN, 1 = STANDARD, bcrypt `$2a$` hashes). Hashes are kept as they are and
 * upgraded to the configured algorithm on each user's first login. Existing usernames are skipped, so
 * a re-run imports nothing new.
 *
 * @example
 *   const source = readImportSource('./vega.db');          // format guessed from the content
 *   const report = await importUsers(core, source, { actorUserId: null });
 *   report.imported.length; report.skipped;                 // never a hash in either
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import SQLite from 'better-sqlite3';
import type { RequestContext } from '../audit.ts';
import type { Role } from '../config.ts';
import { Conflict, RefusedValue } from '../errors.ts';
import type { AccountService } from './accounts.ts';
import { type UserStore, checkEmail, checkUsername } from './users.ts';

export type ImportFormat = 'json' | 'csv' | 'vega';
export const IMPORT_FORMATS: readonly ImportFormat[] = ['json', 'csv', 'vega'];

/** The file cannot be read in the given (or guessed) format. */
export class ImportFileError extends Error {
  override readonly name = 'ImportFileError';
}

/** One record of the source, before any check: values as the file holds them. */
export interface SourceRow {
  /** Where the row is in the file, for the report: `row 3`, `line 4`, `id 7`. */
  readonly ref: string;
  readonly username: unknown;
  readonly email: unknown;
  readonly role: unknown;
  readonly passwordHash: unknown;
  /** Why the row cannot be read at all (a CSV record with the wrong number of columns). */
  readonly problem?: string;
}

export interface ImportSource {
  readonly format: ImportFormat;
  readonly rows: readonly SourceRow[];
}

export interface SkippedRow {
  readonly ref: string;
  readonly username: string | null;
  /** `exists`: the username is already taken (a re-run); `refused`: the row breaks a rule. */
  readonly kind: 'exists' | 'refused';
  readonly reason: string;
}

export interface ImportReport {
  readonly format: ImportFormat;
  readonly imported: readonly { readonly ref: string; readonly username: string; readonly id: number }[];
  readonly skipped: readonly SkippedRow[];
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
  const text = head.subarray(0, read).toString('utf8').replace(/^\uFEFF/, '').trimStart();
  return text.startsWith('[') || text.startsWith('{') ? 'json' : 'csv';
}

/** Reads the rows of an import file; the format is guessed when not given. Throws {@link ImportFileError}. */
export function readImportSource(path: string, format?: ImportFormat): ImportSource {
  const chosen = format ?? guessFormat(path);
  if (chosen === 'vega') return { format: chosen, rows: readVegaRows(path) };
  const text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  return { format: chosen, rows: chosen === 'json' ? parseJsonRows(text) : parseCsvRows(text) };
}

function field(record: Record<string, unknown>, ...names: string[]): unknown {
  for (const name of names) if (record[name] !== undefined) return record[name];
  return undefined;
}

/** A JSON array of user objects, or `{"users": [...]}`. */
export function parseJsonRows(text: string): SourceRow[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ImportFileError(`not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { users?: unknown } | null)?.users;
  if (!Array.isArray(list)) throw new ImportFileError('JSON must be an array of users or {"users": [...]}');
  return list.map((item: unknown, index) => {
    const record = typeof item === 'object' && item !== null && !Array.isArray(item) ? (item as Record<string, unknown>) : {};
    return {
      ref: `row ${index + 1}`,
      username: field(record, 'username'),
      email: field(record, 'email'),
      role: field(record, 'role'),
      passwordHash: field(record, 'password_hash', 'passwordHash'),
    };
  });
}

/** RFC 4180 records: quoted fields may hold commas, quotes (doubled) and line breaks. */
function csvRecords(text: string): { line: number; fields: string[] }[] {
  const records: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let value = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let i = 0;
  const endRecord = () => {
    fields.push(value);
    if (!(fields.length === 1 && fields[0] === '')) records.push({ line: start, fields });
    fields = [];
    value = '';
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        value += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        value += c;
      }
      i++;
      continue;
    }
    if (c === '"' && value === '') quoted = true;
    else if (c === ',') {
      fields.push(value);
      value = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      start = line;
    } else value += c;
    i++;
  }
  if (quoted) throw new ImportFileError(`unterminated quoted field starting on line ${start}`);
  if (value !== '' || fields.length > 0) endRecord();
  return records;
}

/** CSV with a header row naming at least `username` (and any of `email`, `role`, `password_hash`). */
export function parseCsvRows(text: string): SourceRow[] {
  const [header, ...records] = csvRecords(text);
  if (header === undefined) throw new ImportFileError('the CSV file is empty');
  const names = header.fields.map((name) => name.trim().toLowerCase());
  if (!names.includes('username')) throw new ImportFileError('the CSV header must name a username column');
  return records.map(({ line, fields }) => {
    if (fields.length !== names.length) {
      const problem = `has ${fields.length} columns where the header has ${names.length}`;
      return { ref: `line ${line}`, username: undefined, email: undefined, role: undefined, passwordHash: undefined, problem };
    }
    const record: Record<string, string> = {};
    names.forEach((name, index) => (record[name] = fields[index] ?? ''));
    return {
      ref: `line ${line}`,
      username: record.username,
      email: record.email,
      role: record.role,
      passwordHash: field(record, 'password_hash', 'passwordhash'),
    };
  });
}

/** The `users` table of a Vega AI SQLite database, opened read-only. */
function readVegaRows(path: string): SourceRow[] {
  let db: SQLite.Database;
  try {
    db = new SQLite(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new ImportFileError(`cannot open the SQLite database (${error instanceof Error ? error.message : String(error)})`);
  }
  try {
    let columns: string[];
    try {
      columns = (db.prepare("select name from pragma_table_info('users')").all() as { name: string }[]).map((c) => c.name);
    } catch (error) {
      throw new ImportFileError(`not a readable SQLite database (${error instanceof Error ? error.message : String(error)})`);
    }
    for (const required of ['id', 'username', 'password', 'role']) {
      if (!columns.includes(required)) throw new ImportFileError(`not a Vega AI database: its users table has no ${required} column`);
    }
    const rows = db.prepare('select id, username, password, role from users order by id').all() as {
      id: unknown;
      username: unknown;
      password: unknown;
      role: unknown;
    }[];
    return rows.map((row) => ({
      ref: `id ${String(row.id)}`,
      username: row.username,
      // Vega has no email column; its usernames are usually emails (see importUsers).
      email: undefined,
      role: vegaRole(row.role),
      passwordHash: row.password,
    }));
  } finally {
    db.close();
  }
}

/** Vega stores its role as an integer in iota order: ADMIN = 0, STANDARD = 1. */
function vegaRole(value: unknown): unknown {
  if (value === 0 || value === 0n || value === '0') return 'ADMIN';
  if (value === 1 || value === 1n || value === '1') return 'STANDARD';
  return value;
}

// Modular crypt formats that PasswordHasher verifies; anything else would be a user who can never log in.
const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
const ARGON2_HASH = /^\$argon2(id|i|d)\$(v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

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
 * username exists is skipped as `exists`; a row that breaks a rule is skipped as `refused`. A row with no
 * password hash becomes an account without a password (Google sign-in, or a password set by an admin).
 */
export async function importUsers(deps: ImportDeps, source: ImportSource, ctx: RequestContext = {}): Promise<ImportReport> {
  const imported: { ref: string; username: string; id: number }[] = [];
  const skipped: SkippedRow[] = [];
  for (const row of source.rows) {
    const name = typeof row.username === 'string' ? row.username : null;
    let user: ImportUser;
    try {
      user = checkRow(row);
    } catch (error) {
      if (!(error instanceof RefusedValue)) throw error;
      skipped.push({ ref: row.ref, username: name, kind: 'refused', reason: `${error.field} ${error.message}` });
      continue;
    }
    if (await deps.users.findByUsername(user.username)) {
      skipped.push({ ref: row.ref, username: name, kind: 'exists', reason: 'username exists' });
      continue;
    }
    let email = user.email;
    if (source.format === 'vega' && email === null && isEmail(user.username) && !(await deps.users.findByIdentifier(user.username))) {
      // Vega's usernames are usually the Google email; keeping it as the email lets Google sign-in find
      // the account by verified email, as Vega itself did.
      email = user.username;
    }
    try {
      const created = await deps.accounts.create({ username: user.username, email, role: user.role, passwordHash: user.passwordHash }, ctx);
      imported.push({ ref: row.ref, username: created.username, id: created.id });
    } catch (error) {
      if (error instanceof Conflict) {
        // The username was checked above, so this is the email (or a concurrent import of the same name).
        const taken = await deps.users.findByUsername(user.username);
        skipped.push(
          taken
            ? { ref: row.ref, username: name, kind: 'exists', reason: 'username exists' }
            : { ref: row.ref, username: name, kind: 'refused', reason: 'email is taken by another user' },
        );
        continue;
      }
      if (error instanceof RefusedValue) {
        skipped.push({ ref: row.ref, username: name, kind: 'refused', reason: `${error.field} ${error.message}` });
        continue;
      }
      throw error;
    }
  }
  return { format: source.format, imported, skipped };
}

function isEmail(value: string): boolean {
  try {
    checkEmail(value);
    return true;
  } catch {
    return false;
  }
}
