import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Kysely, Migrator, sql } from 'kysely';
import { parseConfig } from '../src/config.ts';
import { startServer } from '../src/server.ts';
import { openStore, type Store } from '../src/store/database.ts';
import { StaticMigrationProvider, migrations } from '../src/store/migrations.ts';
import { type Engine, TEST_SECRET, createTestDatabase, engines } from './support/server.ts';

// Millisecond timestamps beyond 2^31 catch a column that silently became a 32-bit integer.
const T = 1_767_225_600_123;

/** The columns of 0001_initial this test writes and reads back: later migrations may add, never lose. */
const COLUMNS = {
  users: [
    'id',
    'username',
    'username_key',
    'email',
    'email_key',
    'role',
    'password_hash',
    'disabled',
    'created_at',
    'updated_at',
    'last_login_at',
    'google_sub',
  ],
  sessions: ['id', 'user_id', 'created_at', 'expires_at', 'last_used_at', 'revoked_at', 'revoke_reason', 'ip', 'user_agent'],
  refresh_tokens: ['jti_hash', 'session_id', 'parent_hash', 'issued_at', 'expires_at', 'spent_at'],
} as const;

type Snapshot = Record<keyof typeof COLUMNS, Record<string, unknown>[]>;

/** Users, sessions and refresh tokens written with plain SQL, as the schema stood at that migration. */
async function insertRows(db: Kysely<unknown>): Promise<void> {
  const user = async (
    username: string,
    email: string | null,
    hash: string | null,
    disabled: number,
    lastLogin: number | null,
    googleSub: string | null,
  ) => {
    const row = await sql<{ id: number }>`insert into users
        (username, username_key, email, email_key, role, password_hash, disabled, created_at, updated_at, last_login_at, google_sub)
        values (${username}, ${username.toLowerCase()}, ${email}, ${email?.toLowerCase() ?? null}, ${'STANDARD'}, ${hash}, ${disabled}, ${T}, ${T + 1}, ${lastLogin}, ${googleSub})
        returning id`.execute(db);
    const id = row.rows[0]?.id;
    assert.ok(id !== undefined);
    return Number(id);
  };
  const ada = await user('Ada', 'Ada@Example.com', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA', 0, T + 5, null);
  const zoe = await user('Zoë 🦊', null, null, 0, null, 'google-subject-123');
  await user('dora', 'dora@example.com', '$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a', 1, null, null);

  const session = (id: string, userId: number, revokedAt: number | null) =>
    sql`insert into sessions
      (id, user_id, created_at, expires_at, last_used_at, revoked_at, revoke_reason, ip, user_agent)
      values (${id}, ${userId}, ${T}, ${T + 30 * 86_400_000}, ${T + 60_000}, ${revokedAt}, ${revokedAt === null ? null : 'logout'}, ${'203.0.113.7'}, ${'Mozilla/5.0 (ünïcode)'})`.execute(
      db,
    );
  await session('session-ada-live', ada, null);
  await session('session-zoe-revoked', zoe, T + 120_000);

  const token = (hash: string, sessionId: string, parent: string | null, spentAt: number | null) =>
    sql`insert into refresh_tokens
      (jti_hash, session_id, parent_hash, issued_at, expires_at, spent_at)
      values (${hash}, ${sessionId}, ${parent}, ${T}, ${T + 7 * 86_400_000}, ${spentAt})`.execute(db);
  await token('hash-1', 'session-ada-live', null, T + 1000);
  await token('hash-2', 'session-ada-live', 'hash-1', null);
  await token('hash-3', 'session-zoe-revoked', null, null);
}

async function snapshot(db: Kysely<unknown>): Promise<Snapshot> {
  const read = async (table: keyof typeof COLUMNS, orderBy: string) => {
    const columns = sql.join(COLUMNS[table].map((c) => sql.ref(c)));
    const result = await sql<Record<string, unknown>>`select ${columns} from ${sql.table(table)} order by ${sql.ref(orderBy)}`.execute(db);
    return result.rows;
  };
  return {
    users: await read('users', 'id'),
    sessions: await read('sessions', 'id'),
    refresh_tokens: await read('refresh_tokens', 'jti_hash'),
  };
}

/** Each migration's predecessor (so each later migration runs over data), and the latest itself. */
function startingPoints(engine: Engine): string[] {
  const names = Object.keys(migrations(engine)).sort();
  return [...names.slice(0, -1), ...names.slice(-1)];
}

for (const engine of engines()) {
  describe(`migrations (${engine})`, () => {
    const names = Object.keys(migrations(engine));
    const latest = names.slice().sort().at(-1) ?? '';

    test('migrations are named in the order they must run', () => {
      assert.deepEqual(names, names.slice().sort());
      for (const name of names) assert.match(name, /^\d{4}_[a-z0-9_]+$/);
    });

    for (const start of startingPoints(engine)) {
      const label =
        start === latest
          ? `a database already at ${start} with data is left unchanged by migrating again`
          : `rows written at ${start} are intact after migrating to ${latest}`;
      test(label, async () => {
        const database = await createTestDatabase(engine);
        let store: Store | undefined;
        try {
          store = await openStore(database.url);
          const db = store.db as unknown as Kysely<unknown>;
          const migrator = new Migrator({ db, provider: new StaticMigrationProvider(engine) });
          const to = await migrator.migrateTo(start);
          assert.equal(to.error, undefined, String(to.error));
          await insertRows(db);
          const before = await snapshot(db);
          assert.deepEqual([before.users.length, before.sessions.length, before.refresh_tokens.length], [3, 2, 3]);
          assert.equal(typeof before.users[0]?.created_at, 'number');

          const applied = await store.migrate();
          const expected = names.slice(names.indexOf(start) + 1);
          assert.deepEqual(applied, expected, 'exactly the later migrations ran');
          assert.deepEqual(await snapshot(db), before);

          // Once more: nothing left to apply, nothing changes.
          assert.deepEqual(await store.migrate(), []);
          assert.deepEqual(await snapshot(db), before);
        } finally {
          await store?.close();
          await database.drop();
        }
      });
    }

    test('0005 re-keys usernames under NFKC + case fold: collisions are logged and every user and session is kept', async () => {
      const database = await createTestDatabase(engine);
      let store: Store | undefined;
      try {
        store = await openStore(database.url);
        const db = store.db as unknown as Kysely<unknown>;
        const logged: string[] = [];
        const migrator = new Migrator({ db, provider: new StaticMigrationProvider(engine, (line) => logged.push(line)) });
        assert.equal((await migrator.migrateTo('0004_drop_refresh_parent_index')).error, undefined);
        // Keys as the code before 0005 made them: NFC + toLowerCase.
        const user = async (username: string, email: string | null) => {
          const row = await sql<{
            id: number;
          }>`insert into users (username, username_key, email, email_key, role, password_hash, disabled, created_at, updated_at)
            values (${username}, ${username.normalize('NFC').toLowerCase()}, ${email}, ${email?.normalize('NFC').toLowerCase() ?? null}, 'STANDARD', null, 0, ${T}, ${T})
            returning id`.execute(db);
          return Number(row.rows[0]?.id);
        };
        const wide = await user('ＡＤＭＩＮ', 'wide@example.com');
        const admin = await user('admin', null);
        const dotted = await user('ADMİN', null);
        const kelvin = await user('kelvin', '\u212Aate@Example.com');
        await sql`insert into sessions (id, user_id, created_at, expires_at, last_used_at, revoked_at, revoke_reason, ip, user_agent)
          values ('s-wide', ${wide}, ${T}, null, ${T}, null, null, null, null)`.execute(db);

        assert.equal((await migrator.migrateToLatest()).error, undefined);
        const rows = await store.db
          .selectFrom('users')
          .select(['id', 'username', 'username_key', 'email_key', 'credential_version'])
          .orderBy('id')
          .execute();
        assert.deepEqual(
          rows.map((r) => r.username),
          ['ＡＤＭＩＮ', 'admin', 'ADMİN', 'kelvin'],
          'nobody dropped',
        );
        const keyOf = (id: number) => rows.find((r) => r.id === id)?.username_key;
        assert.equal(keyOf(admin), 'admin', 'the user whose key already was the new key keeps it');
        assert.equal(keyOf(wide), `\u0001collision:${wide}:admin`);
        assert.equal(keyOf(dotted), `\u0001collision:${dotted}:admin`);
        assert.equal(
          rows.find((r) => r.id === kelvin)?.email_key,
          'Kate@example.com',
          'ASCII fold, then NFC: the Kelvin sign stays a capital K',
        );
        assert.deepEqual(
          rows.map((r) => r.credential_version),
          [0, 0, 0, 0],
        );
        assert.equal(logged.length, 2, logged.join('\n'));
        assert.ok(logged.every((line) => line.includes('migration 0005')));
        const session = await store.db
          .selectFrom('sessions')
          .select(['user_id', 'credential_version', 'revoked_at'])
          .where('id', '=', 's-wide')
          .executeTakeFirstOrThrow();
        assert.deepEqual(session, { user_id: wide, credential_version: 0, revoked_at: null });
      } finally {
        await store?.close();
        await database.drop();
      }
    });

    test('0006: users that existed before it count as verified', async () => {
      const database = await createTestDatabase(engine);
      let store: Store | undefined;
      try {
        store = await openStore(database.url);
        const db = store.db as unknown as Kysely<unknown>;
        const before = names[names.indexOf('0006_accounts_by_email') - 1] ?? '';
        assert.equal((await new Migrator({ db, provider: new StaticMigrationProvider(engine) }).migrateTo(before)).error, undefined);
        await insertRows(db);
        assert.ok((await store.migrate()).includes('0006_accounts_by_email'));
        const rows = await sql<{ email_verified: number }>`select email_verified from users`.execute(db);
        assert.deepEqual(
          rows.rows.map((r) => Number(r.email_verified)),
          [1, 1, 1],
        );
      } finally {
        await store?.close();
        await database.drop();
      }
    });

    test('serving twice on the same database keeps users and sessions; the first admin password is made once', async () => {
      const database = await createTestDatabase(engine);
      try {
        const env = {
          PORT: '0',
          HOST: '127.0.0.1',
          DATABASE_URL: database.url,
          LATCHKEY_JWT_SECRET: TEST_SECRET,
          LATCHKEY_LIMITS: 'off',
          LOG_LEVEL: 'silent',
        };
        const post = (url: string, path: string, body: unknown) =>
          fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

        const first = await startServer(parseConfig(env), { logger: false });
        let access: string;
        let refresh: string;
        let adminPassword: string | undefined;
        try {
          adminPassword = first.generatedAdminPassword;
          assert.ok(adminPassword, 'an empty database gets a generated admin password');
          await first.core.accounts.create({ username: 'ada', password: 'Tr0ub4dor&3-horse' });
          const login = await post(first.url, '/api/auth/login', { username: 'ada', password: 'Tr0ub4dor&3-horse' });
          assert.equal(login.status, 200);
          ({ token: access, refresh_token: refresh } = (await login.json()) as { token: string; refresh_token: string });
        } finally {
          await first.close();
        }

        const second = await startServer(parseConfig(env), { logger: false });
        try {
          assert.equal(second.generatedAdminPassword, undefined);
          assert.deepEqual((await second.core.users.list()).items.map((u) => u.username).sort(), ['ada', 'admin']);
          assert.equal((await post(second.url, '/api/auth/login', { username: 'admin', password: adminPassword })).status, 200);
          // The session opened before the restart still verifies and still rotates.
          const verify = await fetch(second.url + '/api/auth/verify', { headers: { authorization: `Bearer ${access}` } });
          assert.equal(verify.status, 200);
          assert.equal((await post(second.url, '/api/auth/refresh', { refresh_token: refresh })).status, 200);
          assert.equal((await post(second.url, '/api/auth/login', { username: 'ada', password: 'Tr0ub4dor&3-horse' })).status, 200);
        } finally {
          await second.close();
        }
      } finally {
        await database.drop();
      }
    });
  });
}
