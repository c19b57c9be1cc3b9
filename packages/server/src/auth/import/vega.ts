/**
 * The Vega AI import format: its SQLite database's `users` table (integer role 0 = ADMIN, 1 = STANDARD,
 * bcrypt `$2a$` hashes), opened read-only.
 */
import { createRequire } from 'node:module';
import type SQLite from 'better-sqlite3';
import { ImportFileError, type SourceRow } from './source.ts';

// better-sqlite3 is loaded only when a Vega file is read, so that a server on PostgreSQL never needs it.
const load = (): typeof SQLite => createRequire(import.meta.url)('better-sqlite3') as typeof SQLite;

export function readVegaRows(path: string): SourceRow[] {
  let db: SQLite.Database;
  try {
    db = new (load())(path, { readonly: true, fileMustExist: true });
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
