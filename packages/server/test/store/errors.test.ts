import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { openStore } from '../../src/store/database.ts';
import { isSerializationFailure, isUnavailableError, isUniqueViolation } from '../../src/store/errors.ts';
import { createTestDatabase, engines } from '../support/server.ts';

/** What a query really threw, so the classification is checked against each engine's own error. */
async function thrown(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  assert.fail('the statement was expected to fail');
}

for (const engine of engines()) {
  describe(`store errors on ${engine}`, () => {
    test('a second row with the same key is a unique violation; a missing NOT NULL value is not', async () => {
      const database = await createTestDatabase(engine);
      const store = await openStore(database.url);
      try {
        await sql`create table probe (id integer primary key, name text not null unique)`.execute(store.db);
        await sql`insert into probe (id, name) values (1, 'a')`.execute(store.db);
        const sameKey = await thrown(() => sql`insert into probe (id, name) values (1, 'b')`.execute(store.db));
        const sameName = await thrown(() => sql`insert into probe (id, name) values (2, 'a')`.execute(store.db));
        const noName = await thrown(() => sql`insert into probe (id, name) values (3, null)`.execute(store.db));
        assert.equal(isUniqueViolation(sameKey), true);
        assert.equal(isUniqueViolation(sameName), true);
        assert.equal(isUniqueViolation(noName), false);
        for (const error of [sameKey, sameName, noName]) {
          assert.equal(isSerializationFailure(error), false);
          assert.equal(isUnavailableError(error), false);
        }
      } finally {
        await store.close();
        await database.drop();
      }
    });
  });
}

if (engines().includes('postgres')) {
  describe('store errors on postgres only', () => {
    test('the loser of two crossing serializable transactions is a serialization failure', async () => {
      const database = await createTestDatabase('postgres');
      const [first, second] = [new pg.Client({ connectionString: database.url }), new pg.Client({ connectionString: database.url })];
      try {
        await first.connect();
        await second.connect();
        await first.query('create table probe (id integer primary key, kind text not null)');
        // Each reads what the other writes: no serial order explains both, so PostgreSQL aborts one.
        await first.query('begin isolation level serializable');
        await second.query('begin isolation level serializable');
        await first.query(`select count(*) from probe where kind = 'b'`);
        await second.query(`select count(*) from probe where kind = 'a'`);
        await first.query(`insert into probe values (1, 'a')`);
        await second.query(`insert into probe values (2, 'b')`);
        await first.query('commit');
        const error = await thrown(() => second.query('commit'));
        assert.equal(isSerializationFailure(error), true);
        assert.equal(isUniqueViolation(error), false);
        assert.equal(isUnavailableError(error), false);
      } finally {
        await first.end();
        await second.end();
        await database.drop();
      }
    });

    test('a server that refuses connections is unavailable, not a bug', async () => {
      const store = await openStore('postgres://postgres@127.0.0.1:1/none');
      try {
        const error = await thrown(() => store.ping());
        assert.equal(isUnavailableError(error), true);
        assert.equal(isUniqueViolation(error), false);
        assert.equal(isSerializationFailure(error), false);
      } finally {
        await store.close();
      }
    });
  });
}
