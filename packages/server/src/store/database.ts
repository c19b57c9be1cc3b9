/**
 * The seam where the database engine shows: `openStore(url)` returns a Kysely instance over SQLite
 * (better-sqlite3) or PostgreSQL (pg). Everything above this file is engine-neutral.
 *
 * @example
 *   const store = await openStore('sqlite:./data/latchkey.db');
 *   await store.migrate();
 */
import { resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { createPrivateFile } from './private-files.ts';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { StaticMigrationProvider } from './migrations.ts';
import type { Database } from './schema.ts';

export type Engine = 'sqlite' | 'postgres';

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

function openSqlite(url: string): Kysely<Database> {
  const path = url.slice('sqlite:'.length);
  const file = path === ':memory:' ? ':memory:' : resolve(path);
  if (file !== ':memory:') createPrivateFile(file);
  const sqlite = new SQLite(file);
  // WAL lets readers run beside the one writer; NORMAL sync is durable across a process crash (kill -9)
  // and keeps the file consistent on power loss. The busy timeout makes writers from other processes wait.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: cachedStatements(sqlite) }) });
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

function openPostgres(url: string, poolSize: number, serving: boolean): Kysely<Database> {
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

export async function openStore(url: string, options: StoreOptions = {}): Promise<Store> {
  const engine: Engine = url.startsWith('sqlite:') ? 'sqlite' : 'postgres';
  const db = engine === 'sqlite' ? openSqlite(url) : openPostgres(url, options.poolSize ?? 10, true);
  return {
    db,
    engine,
    async migrate() {
      const migrationDb = engine === 'sqlite' ? db : openPostgres(url, 1, false);
      try {
        // Kysely's migrator takes a lock, so instances starting together apply each migration once.
        const migrator = new Migrator({ db: migrationDb, provider: new StaticMigrationProvider(engine) });
        const { error, results } = await migrator.migrateToLatest();
        if (error) throw error instanceof Error ? error : new Error(String(error));
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
