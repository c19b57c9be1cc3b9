/**
 * The seam where the database engine shows: `openStore(url)` returns a Kysely instance over SQLite
 * (better-sqlite3) or PostgreSQL (pg). Everything above this file is engine-neutral.
 *
 * @example
 *   const store = await openStore('sqlite:./data/latchkey.db');
 *   await store.migrate();
 */
import { resolve } from 'node:path';
import type SQLite from 'better-sqlite3';
import { createPrivateFile } from './private-files.ts';
import { type DialectAdapter, Kysely, type MigrationProvider, Migrator, PostgresDialect, SqliteAdapter, SqliteDialect, sql } from 'kysely';
import type pg from 'pg';
import { urlWithoutPassword } from '../redact.ts';
import { StaticMigrationProvider } from './migrations.ts';
import type { Engine } from './engine.ts';
import type { Database } from './schema.ts';

export type { Engine } from './engine.ts';

export interface Store {
  readonly db: Kysely<Database>;
  readonly engine: Engine;
  /** Applies every pending migration; returns the names applied. */
  migrate(): Promise<string[]>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface StoreOptions {
  readonly poolSize?: number;
}

/**
 * The drivers load only for the engine configured (a PostgreSQL deployment never loads the native
 * SQLite module, and the reverse), so one that failed to install does not stop the other.
 */
async function sqliteDriver(): Promise<typeof SQLite> {
  return (await import('better-sqlite3')).default;
}

async function pgDriver(): Promise<typeof pg> {
  return (await import('pg')).default;
}

/** The file a `sqlite:` URL names, as an absolute path (or `:memory:`). */
export function sqliteFile(url: string): string {
  const path = url.slice('sqlite:'.length);
  return path === ':memory:' ? ':memory:' : resolve(path);
}

async function openSqlite(url: string): Promise<Kysely<Database>> {
  const file = sqliteFile(url);
  // The folder 0700 and the file 0600 when we create them: the file holds the generated HS256 secret.
  if (file !== ':memory:') createPrivateFile(file);
  const SQLite = await sqliteDriver();
  const sqlite = new SQLite(file);
  // WAL lets readers run beside the one writer; NORMAL sync is durable across a process crash (kill -9)
  // and keeps the file consistent on power loss. The busy timeout makes writers from other processes wait.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  return new Kysely<Database>({ dialect: new TransactionalSqliteDialect({ database: cachedStatements(sqlite) }) });
}

/**
 * SQLite runs DDL inside a transaction, but Kysely's SQLite adapter says it does not, so its migrator ran our
 * migrations statement by statement: a start killed half-way through one (say 0005, between its column and
 * its re-keying) left a database that no later start could migrate ("duplicate column"), and users who could
 * not sign in. With this adapter every pending migration runs in one transaction, as on PostgreSQL.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class TransactionalSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/** Compiled SQLite statements kept; the server runs a few dozen distinct query texts. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely's SQLite driver compiles every query afresh, and compiling a statement costs SQLite more than
 * running one of ours: keep compiled statements by their SQL text, least recently used out first. Safe
 * because the driver runs one statement at a time on its single connection, and SQLite recompiles a
 * cached statement by itself after a schema change.
 */
function cachedStatements(sqlite: SQLite.Database): { prepare(sql: string): SQLite.Statement; close(): void } {
  const cache = new Map<string, SQLite.Statement>();
  return {
    prepare(sql) {
      let statement = cache.get(sql);
      if (statement === undefined) {
        statement = sqlite.prepare(sql);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      } else {
        cache.delete(sql); // re-inserted below: the most recently used go last
      }
      cache.set(sql, statement);
      return statement;
    },
    close() {
      cache.clear();
      sqlite.close();
    },
  };
}

/**
 * How long a request waits for PostgreSQL before it is answered 503: for a free connection from the
 * pool, for a new connection, and for a query's answer. Latchkey's queries are point lookups and small
 * writes that take milliseconds, so anything near this limit means the server is away or hung.
 */
export const PG_FAIL_FAST_MS = 1500;

function openPostgres(pg: typeof import('pg').default, url: string, poolSize: number, serving: boolean): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // Fail fast when the server is gone or hung instead of queueing requests behind a dead connection.
    connectionTimeoutMillis: PG_FAIL_FAST_MS,
    // Migrations may legitimately run long; they get a pool of their own without a query deadline.
    ...(serving ? { query_timeout: PG_FAIL_FAST_MS } : {}),
    // Notice a peer that vanished (network cut, host crash) without closing its connections.
    keepAlive: true,
    types: {
      getTypeParser(oid: number, format?: 'text' | 'binary') {
        // int8 (bigint) holds our millisecond timestamps; they fit a JavaScript number.
        if (oid === 20) return (value: string) => Number(value);
        return pg.types.getTypeParser(oid, format);
      },
    } as pg.CustomTypesConfig,
  });
  // A client losing its connection must not crash the process: pg emits 'error' on the client as well as
  // failing its query, and a checked-out client has no listener of the pool's. The query's own error
  // becomes the 503; the pool replaces the client.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** Rethrows what failed at the database's first statement, as a StoreOpenError naming it when it is one. */
function describeOpenError(url: string): (error: unknown) => never {
  return (error) => {
    throw StoreOpenError.describes(error) ? new StoreOpenError(url, error) : error instanceof Error ? error : new Error(String(error));
  };
}

/**
 * Kysely's migrator over this database. On PostgreSQL its bookkeeping tables go in the schema the tables go in
 * (`public`, or the first of the URL's search_path): left unnamed, the migrator would take another schema's
 * table of the same name for its own.
 */
export async function createMigrator<DB>(
  db: Kysely<DB>,
  engine: Engine,
  provider: MigrationProvider = new StaticMigrationProvider(engine),
): Promise<Migrator> {
  if (engine === 'sqlite') return new Migrator({ db, provider });
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema;
  return new Migrator({ db, provider, ...(schema ? { migrationTableSchema: schema } : {}) });
}

export async function openStore(url: string, options: StoreOptions = {}): Promise<Store> {
  const engine: Engine = url.startsWith('sqlite:') ? 'sqlite' : 'postgres';
  const driver = engine === 'postgres' ? await pgDriver() : undefined;
  let db: Kysely<Database>;
  try {
    db = driver === undefined ? await openSqlite(url) : openPostgres(driver, url, options.poolSize ?? 10, true);
  } catch (error) {
    throw new StoreOpenError(url, error);
  }
  return {
    db,
    engine,
    async migrate() {
      const migrationDb = driver === undefined ? db : openPostgres(driver, url, 1, false);
      try {
        // Kysely's migrator takes a lock, so instances starting together apply each migration once.
        const migrator = await createMigrator(migrationDb, engine).catch(describeOpenError(url));
        const { error, results } = await migrator.migrateToLatest();
        // The first statement is where an unreachable server or a foreign file shows: name the database.
        if (error) describeOpenError(url)(error);
        return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
      } finally {
        if (migrationDb !== db) await migrationDb.destroy();
      }
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
}

const SQLITE_FILE_CODES = new Set(['SQLITE_CANTOPEN', 'SQLITE_NOTADB', 'SQLITE_PERM', 'SQLITE_READONLY', 'SQLITE_CORRUPT', 'SQLITE_IOERR']);
const FILE_SYSTEM_CODES = new Set(['EACCES', 'EPERM', 'ENOTDIR', 'EROFS', 'EEXIST', 'ENOSPC']);
const PG_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN', 'ENETUNREACH']);

/**
 * The database named by DATABASE_URL could not be opened: says which one (the URL without its
 * password, or the SQLite file's path) and what to check, instead of a bare `connect ECONNREFUSED
 * 127.0.0.1:5432` or `file is not a database`.
 */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';

  constructor(url: string, cause: unknown) {
    super(describeOpenFailure(url, cause), { cause });
  }

  /** Whether a failure is about reaching or opening the database, rather than a bug in a statement. */
  static describes(error: unknown): boolean {
    const { code, message } = errorParts(error);
    if (code !== undefined && (SQLITE_FILE_CODES.has(code) || PG_NETWORK_CODES.has(code) || /^(08|28|3D)/.test(code))) return true;
    return /Connection terminated|timeout expired|connection timeout/i.test(message);
  }
}

function errorParts(error: unknown): { code: string | undefined; message: string } {
  if (typeof error !== 'object' || error === null) return { code: undefined, message: String(error) };
  const { code, message, errors } = error as { code?: unknown; message?: unknown; errors?: unknown };
  // Node reports a refused connection to a name with several addresses (localhost: ::1 and 127.0.0.1) as an
  // AggregateError with an empty message; its parts say what happened.
  const parts = Array.isArray(errors) ? errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ') : '';
  return {
    code: typeof code === 'string' ? code : undefined,
    message: (typeof message === 'string' && message !== '' ? message : parts) || String(error),
  };
}

function describeOpenFailure(url: string, cause: unknown): string {
  const { code, message } = errorParts(cause);
  if (url.startsWith('sqlite:')) {
    const file = sqliteFile(url);
    // The native module itself is missing or was built for another Node: nothing to do with the file.
    if (
      code === 'ERR_MODULE_NOT_FOUND' ||
      code === 'ERR_DLOPEN_FAILED' ||
      /bindings file|better_sqlite3\.node|NODE_MODULE_VERSION/.test(message)
    ) {
      return `the SQLite driver (better-sqlite3) cannot be loaded (${message}): run npm install again; without a prebuilt binary for this platform it compiles from source and needs a C++ toolchain (see the README)`;
    }
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      return `${file} is not a SQLite database (${message}): point DATABASE_URL at a Latchkey database file, or at a new path to start a new one`;
    }
    if (code !== undefined && FILE_SYSTEM_CODES.has(code)) {
      return `cannot create the folder of the SQLite database ${file} (${code}): check that DATABASE_URL names a path this user may write to`;
    }
    return `cannot open the SQLite database ${file} (${message}): check that it is a file (not a folder) this user may read and write, in a folder it may write to`;
  }
  const shown = urlWithoutPassword(url);
  if (code !== undefined && PG_NETWORK_CODES.has(code)) {
    return `cannot reach PostgreSQL at ${shown} (${message}): check that the server is running and that DATABASE_URL names its host and port`;
  }
  if (code === '28P01' || code === '28000') {
    return `PostgreSQL at ${shown} refused the login (${message}): check the user and password in DATABASE_URL`;
  }
  if (code === '3D000') return `PostgreSQL at ${shown}: ${message}: create the database, or fix its name in DATABASE_URL`;
  return `PostgreSQL at ${shown}: ${message}: check DATABASE_URL and that the server accepts connections`;
}
