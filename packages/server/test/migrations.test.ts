import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { hashJti, successorJti } from '../src/auth/sessions.ts';
import { parseConfig } from '../src/config.ts';
import { startServer } from '../src/server.ts';
import { createMigrator, openStore, type Store } from '../src/store/database.ts';
import { StaticMigrationProvider, migrations } from '../src/store/migrations.ts';
import { type Engine, TEST_SECRET, claimsOf, createTestDatabase, engines, TEST_ARGON2, testServerEnv } from './support/server.ts';

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
} as const;

/** 0009 moved the refresh state from `refresh_tokens` onto the session rows. */
const REFRESH_ON_SESSIONS = '0009_refresh_state_on_sessions';

type Snapshot = Record<keyof typeof COLUMNS, Record<string, unknown>[]>;

/** Users, sessions and refresh tokens written with plain SQL, as the schema stood at migration `at`. */
async function insertRows(db: Kysely<unknown>, at: string): Promise<void> {
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

  if (at >= REFRESH_ON_SESSIONS) {
    await sql`update sessions set refresh_hash = 'hash-2', previous_hash = 'hash-1', rotated_at = ${T + 1000} where id = 'session-ada-live'`.execute(
      db,
    );
    await sql`update sessions set refresh_hash = 'hash-3' where id = 'session-zoe-revoked'`.execute(db);
    return;
  }
  const token = (hash: string, sessionId: string, parent: string | null, spentAt: number | null) =>
    sql`insert into refresh_tokens
      (jti_hash, session_id, parent_hash, issued_at, expires_at, spent_at)
      values (${hash}, ${sessionId}, ${parent}, ${T}, ${T + 7 * 86_400_000}, ${spentAt})`.execute(db);
  await token('hash-1', 'session-ada-live', null, T + 1000);
  await token('hash-2', 'session-ada-live', 'hash-1', null);
  await token('hash-3', 'session-zoe-revoked', null, null);
}

/** The refresh state the rows of {@link insertRows} stand for, as it is stored from 0009 on. */
const REFRESH_STATE = [
  { id: 'session-ada-live', refresh_hash: 'hash-2', previous_hash: 'hash-1', rotated_at: T + 1000 },
  { id: 'session-zoe-revoked', refresh_hash: 'hash-3', previous_hash: null, rotated_at: null },
];

async function refreshState(db: Kysely<unknown>): Promise<Record<string, unknown>[]> {
  const rows = await sql<Record<string, unknown>>`select id, refresh_hash, previous_hash, rotated_at from sessions order by id`.execute(db);
  return rows.rows.map((r) => ({ ...r, rotated_at: r.rotated_at === null ? null : Number(r.rotated_at) }));
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
  };
}

/** Each migration's predecessor (so each later migration runs over data), and the latest itself. */
function startingPoints(engine: Engine): string[] {
  const names = Object.keys(migrations(engine)).sort();
  return [...names.slice(0, -1), ...names.slice(-1)];
}

/** Runs `work` on a fresh database of `engine` (opened, not migrated), closed and dropped after. */
async function onNewDatabase(engine: Engine, work: (store: Store, db: Kysely<unknown>) => Promise<void>): Promise<void> {
  const database = await createTestDatabase(engine);
  let store: Store | undefined;
  try {
    store = await openStore(database.url);
    await work(store, store.db as unknown as Kysely<unknown>);
  } finally {
    await store?.close();
    await database.drop();
  }
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
          const migrator = await createMigrator(db, engine);
          const to = await migrator.migrateTo(start);
          assert.equal(to.error, undefined, String(to.error));
          await insertRows(db, start);
          const before = await snapshot(db);
          assert.deepEqual([before.users.length, before.sessions.length], [3, 2]);
          assert.equal(typeof before.users[0]?.created_at, 'number');

          const applied = await store.migrate();
          const expected = names.slice(names.indexOf(start) + 1);
          assert.deepEqual(applied, expected, 'exactly the later migrations ran');
          assert.deepEqual(await snapshot(db), before);
          // Each session's live token, and the parent it replaced, are on the session now.
          assert.deepEqual(await refreshState(db), REFRESH_STATE);

          // Once more: nothing left to apply, nothing changes.
          assert.deepEqual(await store.migrate(), []);
          assert.deepEqual(await snapshot(db), before);
          assert.deepEqual(await refreshState(db), REFRESH_STATE);
        } finally {
          await store?.close();
          await database.drop();
        }
      });
    }

    test('a start that fails half-way through migrating leaves the database as it was, and the next start migrates it', async () => {
      await onNewDatabase(engine, async (store, db) => {
        const start = '0004_drop_refresh_parent_index';
        assert.equal((await (await createMigrator(db, engine)).migrateTo(start)).error, undefined);
        await insertRows(db, start);
        const before = await snapshot(db);
        // 0005 does all its work, then the process dies (here: the migration throws) before the commit.
        const real = migrations(engine);
        const dying = {
          async getMigrations() {
            const copy = { ...real };
            const victim = real['0005_credential_version_and_identifier_keys'];
            assert.ok(victim);
            copy['0005_credential_version_and_identifier_keys'] = {
              async up(trx) {
                await victim.up(trx);
                throw new Error('killed during 0005');
              },
            };
            return copy;
          },
        };
        const failed = await (await createMigrator(db, engine, dying)).migrateToLatest();
        assert.match(String(failed.error), /killed during 0005/);
        assert.deepEqual(await snapshot(db), before, 'nothing of 0005 was kept');
        assert.deepEqual(await store.migrate(), names.slice(names.indexOf(start) + 1));
        const after = await store.db.selectFrom('users').select(['username', 'credential_version']).orderBy('id').execute();
        assert.equal(after.length, before.users.length);
        assert.ok(after.every((u) => u.credential_version === 0));
      });
    });

    test('0005 re-keys usernames under NFKC + case fold: collisions are logged and every user and session is kept', async () => {
      await onNewDatabase(engine, async (store, db) => {
        const logged: string[] = [];
        const migrator = await createMigrator(db, engine, new StaticMigrationProvider(engine, (line) => logged.push(line)));
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
      });
    });

    test('0006: users that existed before it count as verified', async () => {
      const database = await createTestDatabase(engine);
      let store: Store | undefined;
      try {
        store = await openStore(database.url);
        const db = store.db as unknown as Kysely<unknown>;
        const before = names[names.indexOf('0006_accounts_by_email') - 1] ?? '';
        assert.equal((await (await createMigrator(db, engine)).migrateTo(before)).error, undefined);
        await insertRows(db, before);
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

    test('0009: a token issued before the migration still refreshes, its parent within the grace gets it again, an older one is reuse', async () => {
      const database = await createTestDatabase(engine);
      let store: Store | undefined;
      const now = Date.now();
      // A session as the code before 0009 left it: A spent a minute ago, B spent 2 s ago, C live (C = successor of B).
      const [jtiA, jtiB] = ['jti-a-before-0009', 'jti-b-before-0009'];
      const jtiC = successorJti(jtiB);
      const rotatedB = now - 2000;
      const sessionEnd = now + 86_400_000;
      const refreshExp = (at: number) => Math.floor(Math.min(at + 7 * 86_400_000, sessionEnd) / 1000);
      let userId = 0;
      try {
        store = await openStore(database.url);
        const db = store.db as unknown as Kysely<unknown>;
        const migrator = await createMigrator(db, engine);
        assert.equal((await migrator.migrateTo('0008_bootstrapped_admins')).error, undefined);
        const user = await sql<{
          id: number;
        }>`insert into users (username, username_key, role, password_hash, disabled, created_at, updated_at)
          values ('ada', 'ada', 'STANDARD', null, 0, ${now}, ${now}) returning id`.execute(db);
        userId = Number(user.rows[0]?.id);
        for (const sid of ['s-live', 's-other']) {
          await sql`insert into sessions (id, user_id, created_at, expires_at, last_used_at, revoked_at, revoke_reason, ip, user_agent)
            values (${sid}, ${userId}, ${now - 120_000}, ${sessionEnd}, ${rotatedB}, null, null, null, null)`.execute(db);
        }
        const token = (jti: string, sid: string, parent: string | null, issuedAt: number, spentAt: number | null) =>
          sql`insert into refresh_tokens (jti_hash, session_id, parent_hash, issued_at, expires_at, spent_at)
            values (${hashJti(jti)}, ${sid}, ${parent === null ? null : hashJti(parent)}, ${Math.floor(issuedAt / 1000) * 1000}, ${refreshExp(issuedAt) * 1000}, ${spentAt})`.execute(
            db,
          );
        await token(jtiA, 's-live', null, now - 120_000, now - 60_000);
        await token(jtiB, 's-live', jtiA, now - 60_000, rotatedB);
        await token(jtiC, 's-live', jtiB, rotatedB, null);
        await token('jti-other', 's-other', null, now - 120_000, null);
      } finally {
        await store?.close();
      }

      const server = await startServer(parseConfig(testServerEnv(database.url)), { logger: false, argon2Cost: TEST_ARGON2 });
      try {
        const subject = { id: userId, username: 'ada', role: 'STANDARD' as const };
        // Tokens exactly as the code before the migration signed them (the token format did not change).
        const issued = (jti: string, sid: string, at: number) =>
          server.core.tokens.issueRefresh(subject, sid, jti, Math.floor(at / 1000), refreshExp(at));
        const [a, b, c] = [issued(jtiA, 's-live', now - 120_000), issued(jtiB, 's-live', now - 60_000), issued(jtiC, 's-live', rotatedB)];
        const refresh = (token: string) =>
          fetch(`${server.url}/api/auth/refresh`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ refresh_token: token }),
          });

        // B was spent 2 s before: within the 10 s grace it gets C, the very token its rotation issued.
        const replay = await refresh(b);
        assert.equal(replay.status, 200);
        assert.equal(((await replay.json()) as { refresh_token: string }).refresh_token, c);
        // C, issued before the migration, rotates.
        const rotated = await refresh(c);
        assert.equal(rotated.status, 200);
        const next = ((await rotated.json()) as { refresh_token: string }).refresh_token;
        assert.equal(claimsOf(next).jti, successorJti(jtiC));
        // A, spent long ago, is reuse: the session is revoked and the reuse audited.
        assert.equal((await refresh(a)).status, 401);
        assert.equal((await refresh(next)).status, 401);
        const session = await server.core.store.db
          .selectFrom('sessions')
          .select('revoke_reason')
          .where('id', '=', 's-live')
          .executeTakeFirstOrThrow();
        assert.equal(session.revoke_reason, 'refresh_token_reuse');
        const audit = await server.core.store.db
          .selectFrom('audit_events')
          .select('session_id')
          .where('type', '=', 'refresh_token_reuse')
          .execute();
        assert.deepEqual(audit, [{ session_id: 's-live' }]);
        // The other session is untouched, and logout by its pre-migration refresh token works.
        const other = issued('jti-other', 's-other', now - 120_000);
        const logout = await fetch(`${server.url}/api/auth/logout`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refresh_token: other }),
        });
        assert.equal(logout.status, 204);
        assert.equal((await refresh(other)).status, 401);
      } finally {
        await server.close();
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

        const first = await startServer(parseConfig(env), { logger: false, argon2Cost: TEST_ARGON2 });
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

        const second = await startServer(parseConfig(env), { logger: false, argon2Cost: TEST_ARGON2 });
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
