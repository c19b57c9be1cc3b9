import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMigrator, openStore } from '../src/store/database.ts';
import { createTestDatabase, engines } from './support/server.ts';

for (const engine of engines()) {
  test(`0003 moves a Google subject from users.google_sub to identities (${engine})`, async () => {
    const database = await createTestDatabase(engine);
    const store = await openStore(database.url, { poolSize: 1 });
    try {
      const migrator = await createMigrator(store.db, store.engine);
      const first = await migrator.migrateTo('0001_initial');
      assert.equal(first.error, undefined);
      const now = Date.now();
      const user = { role: 'STANDARD', disabled: 0, created_at: now, updated_at: now, last_login_at: null, password_hash: null };
      await store.db
        .insertInto('users')
        .values([
          { ...user, username: 'gail', username_key: 'gail', email: 'gail@example.com', email_key: 'gail@example.com', google_sub: '1087' },
          { ...user, username: 'paul', username_key: 'paul', email: null, email_key: null, google_sub: null },
        ])
        .execute();
      assert.equal((await store.migrate()).includes('0003_oidc_identities'), true);
      const rows = await store.db.selectFrom('identities').selectAll().execute();
      const gail = await store.db.selectFrom('users').select('id').where('username', '=', 'gail').executeTakeFirstOrThrow();
      assert.deepEqual(rows, [
        {
          issuer: 'https://accounts.google.com',
          subject: '1087',
          provider: 'google',
          user_id: gail.id,
          email: 'gail@example.com',
          created_at: now,
          last_used_at: now,
        },
      ]);
    } finally {
      await store.close();
      await database.drop();
    }
  });
}
