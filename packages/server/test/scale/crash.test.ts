/**
 * Crash safety on SQLite: `latchkey serve` is killed with SIGKILL in the middle of a burst of writes and
 * started again on the same file. The file is intact and every acknowledged write is there.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { hashJti, successorJti } from '../../src/auth/sessions.ts';
import { PASSWORD, type TestDatabase, claimsOf, createTestDatabase } from '../support/server.ts';
import { ADMIN, Instance } from './instances.ts';

describe('kill -9 during writes on SQLite', () => {
  let database: TestDatabase;
  let env: Record<string, string>;
  let server: Instance;
  let restarted: Instance | undefined;
  let adminToken: string;

  const users: string[] = [];
  /** Refresh tokens of sessions opened during the burst. */
  const logins: string[] = [];
  /** One refresh chain per lane: the session, the last token acknowledged, every acknowledged rotation. */
  const chains: { sid: string; token: string; rotations: [string, string][] }[] = [];

  before(async () => {
    database = await createTestDatabase('sqlite');
    env = {
      DATABASE_URL: database.url,
      // The client retries an unanswered refresh after the restart; that must land within the grace.
      LATCHKEY_REFRESH_REUSE_GRACE: '5m',
      // Every request comes from 127.0.0.1; the limits are not what this test is about.
      LATCHKEY_LIMITS: 'off',
    };
    server = await Instance.start(env);
    const login = await server.request('POST', '/api/auth/login', { body: ADMIN });
    adminToken = login.body.token;
  });

  after(async () => {
    await server?.stop();
    await restarted?.stop();
    await database?.drop();
  });

  test('a burst of rotations, logins and user creations is cut by SIGKILL', async () => {
    for (let lane = 0; lane < 4; lane++) {
      const res = await server.request('POST', '/api/auth/login', { body: ADMIN });
      chains.push({ sid: claimsOf(res.body.refresh_token).sid, token: res.body.refresh_token, rotations: [] });
    }
    let sent = 0;
    const lane = async (n: number) => {
      const chain = chains[n] as (typeof chains)[number];
      for (let round = 0; ; round++) {
        if (sent++ === 40) server.kill('SIGKILL');
        try {
          if (round % 4 === 2) {
            const res = await server.request('POST', '/api/auth/login', { body: ADMIN });
            assert.equal(res.status, 200, res.text);
            logins.push(res.body.refresh_token);
          } else if (round % 4 === 3) {
            const username = `crash-${n}-${round}`;
            const res = await server.request('POST', '/api/admin/users', { token: adminToken, body: { username, password: PASSWORD } });
            assert.equal(res.status, 201, res.text);
            users.push(username);
          } else {
            const res = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: chain.token } });
            assert.equal(res.status, 200, res.text);
            chain.rotations.push([chain.token, res.body.refresh_token]);
            chain.token = res.body.refresh_token;
          }
        } catch (error) {
          if (error instanceof assert.AssertionError) throw error;
          // No answer: the process is gone. A refresh in flight may or may not have been committed.
          return;
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(lane));
    assert.equal((await server.exited()).signal, 'SIGKILL');
    assert.ok(
      users.length > 0 && logins.length > 0 && chains.every((c) => c.rotations.length > 0),
      `users ${users.length}, logins ${logins.length}`,
    );
  });

  test('the database file is intact', () => {
    const file = database.url.slice('sqlite:'.length);
    const db = new SQLite(file);
    try {
      assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
      assert.deepEqual(db.pragma('foreign_key_check'), []);
    } finally {
      db.close();
    }
  });

  test('after a restart on the same file every acknowledged user, session and rotation is there', async () => {
    const again = await Instance.start(env);
    restarted = again;
    for (const username of users) {
      const res = await again.request('POST', '/api/auth/login', { body: { username, password: PASSWORD } });
      assert.equal(res.status, 200, `${username}: ${res.text}`);
    }
    const file = database.url.slice('sqlite:'.length);
    const db = new SQLite(file, { readonly: true });
    try {
      for (const chain of chains) {
        // Each successor is derived from its parent, so the last acknowledged rotation being stored means
        // every one before it is: its successor is the session's unspent token, or the parent of one that a
        // rotation committed but never answered issued.
        const [parent, child] = chain.rotations.at(-1) as [string, string];
        const row = db.prepare('select refresh_hash, previous_hash from sessions where id = ?').get(chain.sid);
        const childHash = hashJti(claimsOf(child).jti);
        const expected =
          (row as { refresh_hash: string } | undefined)?.refresh_hash === childHash
            ? { refresh_hash: childHash, previous_hash: hashJti(claimsOf(parent).jti) }
            : { refresh_hash: hashJti(successorJti(claimsOf(child).jti)), previous_hash: childHash };
        assert.deepEqual({ ...(row as object) }, expected);
      }
    } finally {
      db.close();
    }
    // The client carries on with the last token it was given: honoured, whether or not the unanswered
    // refresh had been committed (within the grace it gets that same successor back).
    for (const chain of chains) {
      const res = await again.request('POST', '/api/auth/refresh', { body: { refresh_token: chain.token } });
      assert.equal(res.status, 200, res.text);
      assert.equal(claimsOf(res.body.refresh_token).sid, chain.sid);
    }
    // Every session whose login was answered is there and rotates.
    for (const token of logins)
      assert.equal((await again.request('POST', '/api/auth/refresh', { body: { refresh_token: token } })).status, 200);
  });
});
