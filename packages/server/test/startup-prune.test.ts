/**
 * What a start deletes: rows past their lifetime in the tables that expire (revoked sessions, link tokens,
 * audit events past LATCHKEY_AUDIT_RETENTION, 90 days by default), one table after another, so that a start on
 * PostgreSQL does not open a database connection per table.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../src/config.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { TEST_ARGON2, type TestDatabase, createTestDatabase, engines, testServerEnv, withClient } from './support/server.ts';
import { waitUntil } from './support/wait.ts';

const DAY_MS = 86_400_000;

for (const engine of engines()) {
  describe(`a start prunes what has expired (${engine})`, () => {
    let database: TestDatabase;
    const servers: RunningServer[] = [];
    const start = async () => {
      const config = parseConfig(
        testServerEnv(database.url, { LATCHKEY_ADMIN_USERNAME: 'root', LATCHKEY_ADMIN_PASSWORD: 'root-password-for-tests' }),
      );
      const server = await startServer(config, { logger: false, argon2Cost: TEST_ARGON2 });
      servers.push(server);
      return server;
    };

    before(async () => {
      database = await createTestDatabase(engine);
    });
    after(async () => {
      for (const server of servers) await server.close();
      await database?.drop();
    });

    test('expired rows are gone after a start; rows still alive stay', async () => {
      const first = await start();
      const { db } = first.core.store;
      const now = Date.now();
      const root = await first.core.users.getByUsername('root');
      await db
        .insertInto('revoked_sessions')
        .values([
          { session_id: 'expired', user_id: root.id, revoked_at: now - 2 * DAY_MS, expires_at: now - DAY_MS },
          { session_id: 'alive', user_id: root.id, revoked_at: now, expires_at: now + DAY_MS },
        ])
        .execute();
      const link = { user_id: root.id, purpose: 'reset', email: null, created_at: now - 2 * DAY_MS, used_at: null };
      await db
        .insertInto('link_tokens')
        .values([
          { ...link, token_hash: 'expired-link', expires_at: now - DAY_MS },
          { ...link, token_hash: 'alive-link', expires_at: now + DAY_MS },
        ])
        .execute();
      await first.core.audit.write('user_updated', { userId: root.id }, {}, now - 91 * DAY_MS);
      await first.core.audit.write('user_updated', { userId: root.id }, {}, now - DAY_MS);
      await first.close();
      servers.pop();

      const second = await start();
      const left = async () => ({
        revoked: (await second.core.store.db.selectFrom('revoked_sessions').select('session_id').execute()).map((r) => r.session_id),
        links: (await second.core.store.db.selectFrom('link_tokens').select('token_hash').execute()).map((r) => r.token_hash),
        audit: (await second.core.store.db.selectFrom('audit_events').select('at').where('type', '=', 'user_updated').execute()).length,
      });
      const expected = { revoked: ['alive'], links: ['alive-link'], audit: 1 };
      // The pass runs in the background of the start: wait for its last table, then compare.
      await waitUntil('the start prunes', async () => JSON.stringify(await left()) === JSON.stringify(expected), {
        detail: () => 'left: expired rows still there',
      });
      assert.deepEqual(await left(), expected);
    });

    if (engine === 'postgres')
      test('a start opens at most three database connections: the prune pass takes one, not one per table', async () => {
        await Promise.all(servers.splice(0).map((server) => server.close()));
        const server = await start();
        const name = new URL(database.url).searchParams.get('application_name');
        const adminUrl = new URL(database.url);
        adminUrl.search = '';
        const connections = () =>
          withClient(adminUrl.toString(), async (client) => {
            const result = await client.query<{ n: number; busy: number }>(
              "select count(*)::int as n, count(*) filter (where state <> 'idle')::int as busy from pg_stat_activity where application_name = $1",
              [name],
            );
            return result.rows[0] ?? { n: 0, busy: 0 };
          });
        // Once the start's prune pass is over, every connection it opened is idle in the pool.
        await waitUntil(
          'the start settles',
          async () =>
            (await server.core.store.db.selectFrom('users').select('id').execute()).length >= 1 && (await connections()).busy === 0,
        );
        const count = (await connections()).n;
        assert.ok(count >= 1 && count <= 3, `${count} connections`);
      });
  });
}
