/**
 * The bootstrap admin of LATCHKEY_ADMIN_USERNAME/PASSWORD (SPEC §1, issue 10 item 17): created once per
 * database. An admin who deletes it keeps it deleted, whatever the environment still says at the next start.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../src/config.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { PASSWORD, TEST_SECRET, type TestDatabase, createTestDatabase, errorOf, matrix, TEST_ARGON2 } from './support/server.ts';

const BOSS_PASSWORD = 'boss passphrase for tests';

for (const { style, engine, name } of matrix()) {
  describe(`bootstrap admin (${name})`, () => {
    let database: TestDatabase;
    before(async () => {
      database = await createTestDatabase(engine);
    });
    after(() => database.drop());

    const start = (env: Record<string, string> = {}): Promise<RunningServer> =>
      startServer(
        parseConfig({
          PORT: '0',
          HOST: '127.0.0.1',
          DATABASE_URL: database.url,
          LATCHKEY_API_STYLE: style,
          LATCHKEY_JWT_SECRET: TEST_SECRET,
          LATCHKEY_LIMITS: 'off',
          LOG_LEVEL: 'silent',
          LATCHKEY_ADMIN_USERNAME: 'boss',
          LATCHKEY_ADMIN_PASSWORD: BOSS_PASSWORD,
          ...env,
        }),
        { logger: false, argon2Cost: TEST_ARGON2 },
      );
    const login = (server: RunningServer, username: string, password: string) =>
      fetch(`${server.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      });
    const usernames = async (server: RunningServer) =>
      (await server.core.store.db.selectFrom('users').select(['username', 'role']).orderBy('id').execute()).map(
        (u) => `${u.username}:${u.role}`,
      );

    test('is created on the first start; deleted by an admin, it stays deleted across restarts', async () => {
      const first = await start();
      try {
        assert.deepEqual(await usernames(first), ['boss:ADMIN']);
        assert.equal((await login(first, 'boss', BOSS_PASSWORD)).status, 200);
        const ada = await first.core.accounts.create({ username: 'ada', password: PASSWORD, role: 'ADMIN' });
        const boss = await first.core.users.getByUsername('boss');
        await first.core.accounts.delete(boss.id, { actorUserId: ada.id });
      } finally {
        await first.close();
      }

      const second = await start();
      try {
        assert.deepEqual(await usernames(second), ['ada:ADMIN'], 'boss did not come back');
        const res = await login(second, 'boss', BOSS_PASSWORD);
        assert.equal(res.status, 401);
        const body = (await res.json()) as Record<string, any>;
        assert.equal(
          errorOf({ status: res.status, headers: res.headers, body, text: '' }, style),
          style === 'flat' ? 'invalid username or password' : 'INVALID_CREDENTIALS',
        );
      } finally {
        await second.close();
      }
    });

    test('another name in the environment is a new bootstrap admin, created once', async () => {
      const server = await start({ LATCHKEY_ADMIN_USERNAME: 'chief', LATCHKEY_ADMIN_PASSWORD: 'chief passphrase for tests' });
      try {
        assert.deepEqual(await usernames(server), ['ada:ADMIN', 'chief:ADMIN']);
        assert.equal((await login(server, 'chief', 'chief passphrase for tests')).status, 200);
        const recorded = await server.core.store.db
          .selectFrom('bootstrapped_admins')
          .select('username_key')
          .orderBy('username_key')
          .execute();
        assert.deepEqual(
          recorded.map((r) => r.username_key),
          ['boss', 'chief'],
        );
      } finally {
        await server.close();
      }
    });

    test('a bootstrap admin from before the record existed is recorded at the next start, so deleting it is final', async () => {
      // As on a database migrated from a version without the record: the user is there, the record is not.
      const server = await start({ LATCHKEY_ADMIN_USERNAME: 'chief', LATCHKEY_ADMIN_PASSWORD: 'chief passphrase for tests' });
      await server.core.store.db.deleteFrom('bootstrapped_admins').where('username_key', '=', 'chief').execute();
      await server.close();
      const again = await start({ LATCHKEY_ADMIN_USERNAME: 'chief', LATCHKEY_ADMIN_PASSWORD: 'chief passphrase for tests' });
      try {
        const chief = await again.core.users.getByUsername('chief');
        await again.core.accounts.delete(chief.id);
      } finally {
        await again.close();
      }
      const last = await start({ LATCHKEY_ADMIN_USERNAME: 'chief', LATCHKEY_ADMIN_PASSWORD: 'chief passphrase for tests' });
      try {
        assert.deepEqual(await usernames(last), ['ada:ADMIN']);
      } finally {
        await last.close();
      }
    });

    test('a sign-in the moment the server listens finds the bootstrap admin already there', async () => {
      const probe = createServer();
      await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
      const address = probe.address();
      await new Promise((done) => probe.close(done));
      assert.ok(typeof address === 'object' && address !== null);
      let failed: unknown;
      const starting = start({
        PORT: String(address.port),
        LATCHKEY_ADMIN_USERNAME: 'early',
        LATCHKEY_ADMIN_PASSWORD: 'early passphrase for tests',
      });
      starting.catch((error: unknown) => (failed = error));
      // Knock until the port opens; the first answer is the one that matters.
      let first: Response | undefined;
      while (first === undefined && failed === undefined) {
        try {
          first = await fetch(`http://127.0.0.1:${address.port}/api/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ username: 'early', password: 'early passphrase for tests' }),
          });
        } catch {
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      const server = await starting;
      try {
        assert.equal(first?.status, 200);
      } finally {
        await server.close();
      }
    });
  });
}
