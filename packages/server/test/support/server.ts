/**
 * Test support: a real Latchkey server on an ephemeral port over a real database of its own
 * (a fresh SQLite file, or a fresh PostgreSQL database when TEST_DATABASE_URL is set), and a tiny
 * HTTP client that returns status, headers and parsed body.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseConfig } from '../../src/config.ts';
import type { Role } from '../../src/config.ts';
import { type RunningServer, type ServerOptions, startServer } from '../../src/server.ts';
import type { User } from '../../src/auth/users.ts';
import type { Argon2Cost } from '../../src/auth/passwords.ts';

export type Engine = 'sqlite' | 'postgres';
export type Style = 'flat' | 'envelope';

export const STYLES: readonly Style[] = ['flat', 'envelope'];

/** SQLite always; PostgreSQL too when TEST_DATABASE_URL names a server. */
export function engines(): Engine[] {
  return process.env.TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

/** Every (style, engine) pair a server test runs under. */
export function matrix(): { style: Style; engine: Engine; name: string }[] {
  return STYLES.flatMap((style) => engines().map((engine) => ({ style, engine, name: `${style} style on ${engine}` })));
}

/**
 * argon2id's cost on test servers: real argon2id, at the lowest cost it takes. SPEC's OWASP cost spends ~20 ms
 * of CPU a hash, and the suite logs in thousands of times on two cores; a test about hashing itself starts its
 * server with `argon2Cost: OWASP_ARGON2ID`.
 */
export const TEST_ARGON2: Argon2Cost = { memoryCost: 64, timeCost: 1 };

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long!';
export const PASSWORD = 'Tr0ub4dor&3-horse';

export interface TestDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

/**
 * The PostgreSQL database of this process's test servers: made on first use, dropped when the process ends.
 * Each server gets a schema of its own in it ({@link createTestDatabase}); the database is per process because
 * Kysely's migrator looks at the tables of every schema of a database, and a schema that another process drops
 * in the middle of that look fails it.
 */
let processDatabase: Promise<{ url: string; admin: pg.Pool }> | undefined;

/** Runs `work` on one connection to `url`, closed after. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * The process's database, and one connection to it kept for making and dropping schemas: a new PostgreSQL
 * connection costs the server ~20 ms of CPU (a process forked and its caches filled), two per test server.
 */
function processDatabaseOf(adminUrl: string): Promise<{ url: string; admin: pg.Pool }> {
  processDatabase ??= (async () => {
    const name = `latchkey_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    await withClient(adminUrl, (admin) => admin.query(`create database ${name}`));
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    // An idle connection does not keep the process alive (allowExitOnIdle).
    const admin = new pg.Pool({ connectionString: url.toString(), max: 1, allowExitOnIdle: true });
    // A connection that breaks while idle is dropped from the pool; the next query opens another.
    admin.on('error', () => {});
    // When nothing else is left to do; the drop is the last thing the process does.
    process.once('beforeExit', () => {
      admin
        .end()
        .then(() => withClient(adminUrl, (client) => client.query(`drop database if exists ${name} with (force)`)))
        .catch((error: Error) => console.error(`# could not drop the test database ${name}: ${error.message}`));
    });
    return { url: url.toString(), admin };
  })();
  return processDatabase;
}

/**
 * A database of its own: a SQLite file in a temporary folder, or, on PostgreSQL, a schema of its own in this
 * process's test database, which the URL selects (`search_path`) for every connection made with it. A schema is
 * made in milliseconds where a new database copies a template (half a second to a second and a half, a few
 * hundred times a run); the server's tables, migrations and queries know nothing of it.
 */
export async function createTestDatabase(engine: Engine): Promise<TestDatabase> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-test-'));
    return { url: `sqlite:${join(dir, 'latchkey.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) throw new Error('TEST_DATABASE_URL is not set');
  const { url: databaseUrl, admin } = await processDatabaseOf(adminUrl);
  const name = `latchkey_test_${randomBytes(6).toString('hex')}`;
  await admin.query(`create schema ${name}`);
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${name}`);
  // Named after the schema, so that the drop can end what a killed process left connected.
  url.searchParams.set('application_name', name);
  return {
    url: url.toString(),
    async drop() {
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and pid <> pg_backend_pid()', [
        name,
      ]);
      await admin.query(`drop schema if exists ${name} cascade`);
    },
  };
}

export interface HttpResult<T = any> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
  readonly text: string;
}

export interface RequestOptions {
  readonly body?: unknown;
  /** Sent as is, not JSON-encoded. */
  readonly raw?: string;
  readonly token?: string;
  readonly headers?: Record<string, string>;
}

/** The hash of {@link PASSWORD} for each hashing configuration, made once per process. */
const fixtureHashes = new Map<string, Promise<string>>();

export class TestServer {
  constructor(
    readonly server: RunningServer,
    readonly database: TestDatabase,
    readonly style: Style,
    readonly argon2Cost: Argon2Cost,
  ) {}

  get url(): string {
    return this.server.url;
  }

  get core() {
    return this.server.core;
  }

  async request<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<HttpResult<T>> {
    const headers: Record<string, string> = { ...options.headers };
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    const response = await fetch(this.url + path, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    let parsed: unknown = undefined;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, body: parsed as T, text };
  }

  /**
   * A user through the same service the CLI and the admin API use. With the default {@link PASSWORD}, the
   * stored hash is made once per process and configuration (a real hash, by this server's own hasher with its
   * own parameters: logins verify it as any other), rather than once per user: argon2 is the slowest step of
   * a fixture, and no test reads the salt of a fixture's hash.
   */
  async createUser(username: string, options: { password?: string; role?: Role; email?: string } = {}): Promise<User> {
    const common = { username, role: options.role ?? 'STANDARD', email: options.email ?? null } as const;
    if (options.password !== undefined && options.password !== PASSWORD)
      return this.core.accounts.create({ ...common, password: options.password });
    const { passwordHash, bcryptCost } = this.core.config;
    const key = `${passwordHash} ${bcryptCost} ${this.argon2Cost.memoryCost} ${this.argon2Cost.timeCost}`;
    let hash = fixtureHashes.get(key);
    if (hash === undefined) {
      hash = this.core.hasher.hash(PASSWORD);
      fixtureHashes.set(key, hash);
      hash.catch(() => fixtureHashes.delete(key));
    }
    return this.core.accounts.create({ ...common, passwordHash: await hash });
  }

  /** Logs in and returns the access and refresh tokens, whatever the style. */
  async login(identifier: string, password = PASSWORD): Promise<{ access: string; refresh: string; result: HttpResult }> {
    const result = await this.request('POST', '/api/auth/login', { body: { username: identifier, password } });
    if (result.status !== 200) throw new Error(`login failed: ${result.status} ${result.text}`);
    return { ...tokensOf(result, this.style), result };
  }

  async close(): Promise<void> {
    await this.server.close();
    await this.database.drop();
  }
}

/** The token pair of a login or refresh response in either style. */
export function tokensOf(result: HttpResult, style: Style): { access: string; refresh: string } {
  const data = style === 'flat' ? result.body : result.body.data;
  return { access: data.token, refresh: style === 'flat' ? data.refresh_token : data.refreshToken };
}

/** The error of a response: the flat sentence, or the envelope's code. */
export function errorOf(result: HttpResult, style: Style): string {
  return style === 'flat' ? result.body.error : result.body.error.code;
}

/** Decodes a JWT's payload without verifying it (tests only). */
export function claimsOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
}

export function headerOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'));
}

export interface StartOptions extends ServerOptions {
  readonly style?: Style;
  readonly engine?: Engine;
  readonly env?: Record<string, string>;
  /** Keep the generated first admin (default: an explicit admin is configured instead). */
  readonly bootstrap?: boolean;
}

/** The environment of a test server on `databaseUrl`: any free port on 127.0.0.1, no limits, no log; then `env`. */
export function testServerEnv(databaseUrl: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    LATCHKEY_JWT_SECRET: TEST_SECRET,
    LATCHKEY_LIMITS: 'off',
    LOG_LEVEL: 'silent',
    ...env,
  };
}

/**
 * Starts a server on a fresh database. Limits are off unless `env` turns them on; argon2id runs at
 * {@link TEST_ARGON2} unless `argon2Cost` says otherwise.
 */
export async function startTestServer(options: StartOptions = {}): Promise<TestServer> {
  const style = options.style ?? 'flat';
  const database = await createTestDatabase(options.engine ?? 'sqlite');
  const env = testServerEnv(database.url, {
    LATCHKEY_API_STYLE: style,
    ...(options.bootstrap ? {} : { LATCHKEY_ADMIN_USERNAME: 'root', LATCHKEY_ADMIN_PASSWORD: 'root-password-for-tests' }),
    ...options.env,
  });
  try {
    const argon2Cost = options.argon2Cost ?? TEST_ARGON2;
    const server = await startServer(parseConfig(env), { logger: false, ...options, argon2Cost });
    return new TestServer(server, database, style, argon2Cost);
  } catch (error) {
    await database.drop();
    throw error;
  }
}
