/**
 * Refresh rotations that arrive together are written in one transaction (group commit). Each keeps
 * its own compare-and-set, and a rotation whose write fails takes no other one down with it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { hashJti } from '../src/auth/sessions.ts';
import { parseConfig } from '../src/config.ts';
import { type Core, openCore } from '../src/core.ts';
import { PASSWORD, createTestDatabase, engines, TEST_ARGON2 } from './support/server.ts';

async function openTestCore(
  engine: 'sqlite' | 'postgres',
  env: Record<string, string> = {},
): Promise<{ core: Core; close(): Promise<void> }> {
  const database = await createTestDatabase(engine);
  const core = await openCore(parseConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent', ...env }), {
    background: false,
    argon2Cost: TEST_ARGON2,
  });
  return {
    core,
    async close() {
      await core.close();
      await database.drop();
    },
  };
}

for (const engine of engines()) {
  describe(`rotations written together (${engine})`, () => {
    test('twenty sessions refreshed at once each get their own working successor', async (t) => {
      const { core, close } = await openTestCore(engine);
      t.after(close);
      const user = await core.accounts.create({ username: 'ada', password: PASSWORD });
      const sessions = await Promise.all(Array.from({ length: 20 }, () => core.sessions.start(user)));
      const rotated = await Promise.all(sessions.map((s) => core.sessions.rotate(s.refreshToken)));
      assert.deepEqual(
        rotated.map((r) => r.sessionId),
        sessions.map((s) => s.sessionId),
      );
      assert.equal(new Set(rotated.map((r) => r.refreshToken)).size, 20);
      // Every successor rotates again: each write of the batch was committed.
      const again = await Promise.all(rotated.map((r) => core.sessions.rotate(r.refreshToken)));
      assert.equal(again.length, 20);
    });

    test('with no grace, one token rotated twenty times in one batch has exactly one winner', async (t) => {
      const { core, close } = await openTestCore(engine, { LATCHKEY_REFRESH_REUSE_GRACE: '0' });
      t.after(close);
      const user = await core.accounts.create({ username: 'ada', password: PASSWORD });
      const session = await core.sessions.start(user);
      // Same tick, often the same millisecond as the winning rotation: still a second use, not a grace replay.
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => core.sessions.rotate(session.refreshToken)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      assert.equal(results.filter((r) => r.status === 'rejected').length, 19);
    });

    test('a rotation whose write fails fails alone; the others in its batch succeed', async (t) => {
      const { core, close } = await openTestCore(engine);
      t.after(close);
      const user = await core.accounts.create({ username: 'ada', password: PASSWORD });
      const good = await core.sessions.start(user);
      const bad = await core.sessions.start(user);
      // The database refuses to rotate the bad session, so its compare-and-set breaks the shared transaction.
      const { jti } = core.tokens.verifyRefresh(bad.refreshToken);
      if (engine === 'sqlite') {
        await sql`create trigger refuse_rotation before update of refresh_hash on sessions when old.id = ${sql.lit(bad.sessionId)}
          begin select raise(abort, 'rotation refused'); end`.execute(core.store.db);
      } else {
        await sql`create function refuse_rotation() returns trigger language plpgsql as $$
          begin raise exception 'rotation refused'; end $$`.execute(core.store.db);
        await sql`create trigger refuse_rotation before update of refresh_hash on sessions
          for each row when (old.id = ${sql.lit(bad.sessionId)}) execute function refuse_rotation()`.execute(core.store.db);
      }

      const [goodResult, badResult] = await Promise.allSettled([
        core.sessions.rotate(good.refreshToken),
        core.sessions.rotate(bad.refreshToken),
      ]);
      assert.equal(goodResult.status, 'fulfilled');
      assert.equal(badResult.status, 'rejected');
      if (goodResult.status === 'fulfilled') {
        const next = await core.sessions.rotate(goodResult.value.refreshToken);
        assert.equal(next.sessionId, good.sessionId);
      }
      // The failed rotation spent nothing: its token is still the session's unspent one.
      const row = await core.store.db
        .selectFrom('sessions')
        .select(['refresh_hash', 'previous_hash'])
        .where('id', '=', bad.sessionId)
        .executeTakeFirstOrThrow();
      assert.deepEqual(row, { refresh_hash: hashJti(jti), previous_hash: null });
    });
  });
}
