/**
 * SPEC §8: three `latchkey serve` processes on one PostgreSQL database and one Redis behave as one
 * server. Real processes, a real database of the test's own, a Redis key prefix of the test's own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { hashJti, successorJti } from '../../src/auth/sessions.ts';
import { PASSWORD, type TestDatabase, claimsOf, createTestDatabase } from '../support/server.ts';
import { ADMIN, Instance, dropRedisPrefix, redisKeys, redisPrefix, skipWithout } from './instances.ts';

const skip = skipWithout('postgres', 'redis');

describe('several instances on PostgreSQL and Redis behave as one server', { skip }, () => {
  let database: TestDatabase;
  let prefix: string;
  let env: Record<string, string>;
  let instances: Instance[] = [];
  let sql: pg.Client;
  let adminToken: string;
  let nextAddress = 1;
  /** Each test speaks from addresses of its own (LATCHKEY_TRUST_PROXY), so rate limits never cross tests. */
  const address = () => ({ 'x-forwarded-for': `198.51.100.${nextAddress++}` });

  const [a, b, c] = [0, 1, 2].map((i) => ({ get: () => instances[i] as Instance })) as [
    { get(): Instance },
    { get(): Instance },
    { get(): Instance },
  ];

  before(async () => {
    database = await createTestDatabase('postgres');
    prefix = redisPrefix();
    env = {
      DATABASE_URL: database.url,
      REDIS_URL: process.env.TEST_REDIS_URL ?? '',
      LATCHKEY_REDIS_PREFIX: prefix,
      LATCHKEY_TRUST_PROXY: 'true',
      LATCHKEY_LIMIT_LOGIN_PER_ADDRESS: '5/1m',
    };
    // Started together on an empty database: the migrations and the first admin must still happen once.
    instances = await Promise.all([Instance.start(env), Instance.start(env), Instance.start(env)]);
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    const login = await a.get().request('POST', '/api/auth/login', { body: ADMIN, headers: address() });
    assert.equal(login.status, 200, login.text);
    adminToken = login.body.token;
  });

  after(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await sql?.end();
    await database?.drop();
    if (prefix) await dropRedisPrefix(process.env.TEST_REDIS_URL ?? '', prefix);
  });

  const login = async (on: Instance, username = ADMIN.username, password: string = ADMIN.password) => {
    const res = await on.request('POST', '/api/auth/login', { body: { username, password }, headers: address() });
    assert.equal(res.status, 200, res.text);
    return { access: res.body.token as string, refresh: res.body.refresh_token as string };
  };
  const refresh = (on: Instance, token: string) =>
    on.request('POST', '/api/auth/refresh', { body: { refresh_token: token }, headers: address() });

  test('three instances started together applied each migration once and created one admin', async () => {
    const migrations = await sql.query('select name from kysely_migration order by name');
    assert.deepEqual(
      migrations.rows.map((r) => r.name),
      [...new Set(migrations.rows.map((r) => r.name))],
    );
    const admins = await sql.query("select count(*)::int as n from users where username = 'root'");
    assert.equal(admins.rows[0].n, 1);
  });

  test('a login on A refreshes on B, and B’s successor on C', async () => {
    const first = await login(a.get());
    const onB = await refresh(b.get(), first.refresh);
    assert.equal(onB.status, 200, onB.text);
    const onC = await refresh(c.get(), onB.body.refresh_token);
    assert.equal(onC.status, 200, onC.text);
    assert.equal(claimsOf(onC.body.token).sid, claimsOf(first.access).sid);
    assert.equal((await a.get().request('GET', '/api/auth/verify', { token: onC.body.token })).status, 200);
  });

  test('a logout on B is refused on A and C within 1 s', async () => {
    const session = await login(a.get());
    assert.equal((await a.get().request('GET', '/api/auth/verify', { token: session.access })).status, 200);
    assert.equal((await c.get().request('GET', '/api/auth/verify', { token: session.access })).status, 200);
    const logout = await b.get().request('POST', '/api/auth/logout', { token: session.access });
    assert.equal(logout.status, 204);
    const loggedOutAt = Date.now();
    for (const other of [a.get(), c.get()]) {
      let res = await other.request('GET', '/api/auth/verify', { token: session.access });
      while (res.status === 200 && Date.now() - loggedOutAt < 1000)
        res = await other.request('GET', '/api/auth/verify', { token: session.access });
      assert.equal(res.status, 401, `still accepted ${Date.now() - loggedOutAt} ms after the logout`);
      assert.deepEqual(res.body, { error: 'invalid or expired token' });
    }
    // The refresh token of the session died with it, on every instance.
    assert.equal((await refresh(c.get(), session.refresh)).status, 401);
  });

  test('20 concurrent refreshes of one token over three instances make exactly one successor', async () => {
    const session = await login(b.get());
    const parentJti = claimsOf(session.refresh).jti;
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => refresh(instances[i % 3] as Instance, session.refresh)));
    // SPEC §4: duplicates within the reuse grace (10 s by default) get the same successor, never a second branch.
    assert.deepEqual(
      answers.map((r) => r.status),
      Array(20).fill(200),
      answers.map((r) => r.text).join('\n'),
    );
    const successors = new Set(answers.map((r) => r.body.refresh_token as string));
    assert.equal(successors.size, 1);
    const [successor] = [...successors] as [string];
    assert.equal(claimsOf(successor).sid, claimsOf(session.refresh).sid);
    // One rotation: the parent is the session's previous token, the one successor its unspent one.
    const rows = await sql.query('select refresh_hash, previous_hash from sessions where id = $1', [claimsOf(session.refresh).sid]);
    assert.deepEqual(rows.rows, [{ refresh_hash: hashJti(claimsOf(successor).jti), previous_hash: hashJti(parentJti) }]);
    // Each answer carries a fresh access token of the same session, and the one successor goes on.
    for (const r of answers) assert.equal(claimsOf(r.body.token).sid, claimsOf(session.refresh).sid);
    assert.equal((await refresh(c.get(), successor)).status, 200);
  });

  test('the login rate limit is counted once across the instances, in Redis', async () => {
    const from = address();
    const attempt = (on: Instance, i: number) =>
      on.request('POST', '/api/auth/login', { body: { username: `nobody-${i}`, password: 'wrong-password' }, headers: from });
    // 5 per minute per address: five attempts spread over A, B and C use the budget up...
    for (let i = 0; i < 5; i++) assert.equal((await attempt(instances[i % 3] as Instance, i)).status, 401);
    // ...so the sixth is refused whichever instance gets it.
    for (const [i, on] of instances.entries()) {
      const res = await attempt(on, 10 + i);
      assert.equal(res.status, 429);
      assert.deepEqual(res.body, { error: 'Too many requests. Please try again later.' });
      assert.ok(Number(res.headers.get('retry-after')) >= 1);
    }
    const keys = await redisKeys(process.env.TEST_REDIS_URL ?? '', prefix);
    assert.ok(keys.includes(`${prefix}limit:login_per_address:${from['x-forwarded-for']}`), keys.join(', '));
    // No identifier is stored in clear (they are counted by hash).
    assert.ok(!keys.some((k) => k.includes('nobody')));
  });

  test('kill -9 of one instance during a burst of writes loses nothing that was acknowledged', async () => {
    // Acknowledged writes: users created, sessions opened, rotations made. Requests to the killed
    // instance that got no answer are the client's to retry.
    const users: string[] = [];
    const chains: { sid: string; token: string; rotations: [string, string][] }[] = [];
    for (let lane = 0; lane < 4; lane++) {
      const session = await login(instances[lane % 3] as Instance);
      chains.push({ sid: claimsOf(session.refresh).sid, token: session.refresh, rotations: [] });
    }
    let sent = 0;
    let killed = false;
    const victim = b.get();
    const worker = async (lane: number) => {
      for (let round = 0; round < 8; round++) {
        const on = instances[(lane + round) % 3] as Instance;
        const op = sent++;
        if (op === 12 && !killed) {
          killed = true;
          victim.kill('SIGKILL');
        }
        try {
          if (round % 3 === 0) {
            const username = `burst-${lane}-${round}`;
            const res = await on.request('POST', '/api/admin/users', {
              token: adminToken,
              body: { username, password: PASSWORD },
              headers: address(),
            });
            if (res.status === 201) users.push(username);
            else assert.ok(res.status >= 500 || on === victim, res.text);
          } else if (round % 3 === 1) {
            const res = await on.request('POST', '/api/auth/login', { body: ADMIN, headers: address() });
            if (res.status === 200)
              chains.push({ sid: claimsOf(res.body.refresh_token).sid, token: res.body.refresh_token, rotations: [] });
          } else {
            // Each lane rotates a session of its own, as one client would.
            const chain = chains[lane] as (typeof chains)[number];
            const rotate = async (where: Instance) => {
              const res = await refresh(where, chain.token);
              assert.equal(res.status, 200, res.text);
              chain.rotations.push([chain.token, res.body.refresh_token]);
              chain.token = res.body.refresh_token;
            };
            try {
              await rotate(on);
            } catch (error) {
              if (on !== victim) throw error;
              // No answer: the client retries elsewhere at once. Whether or not the killed instance had
              // committed the rotation, the retry (within the reuse grace) gets a live successor.
              await rotate(a.get());
            }
          }
        } catch (error) {
          if (on !== victim) throw error;
          // the killed instance: no answer, nothing acknowledged
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(worker));
    assert.ok(killed);
    await victim.exited();

    // Restarted on the same port, it serves every acknowledged write like the others.
    const restarted = await Instance.start(env, [], victim.port);
    instances[1] = restarted;
    for (const username of users) {
      const res = await restarted.request('POST', '/api/auth/login', { body: { username, password: PASSWORD }, headers: address() });
      assert.equal(res.status, 200, `${username}: ${res.text}`);
    }
    let rotations = 0;
    for (const chain of chains) {
      rotations += chain.rotations.length;
      // Each successor is derived from its parent, so the last acknowledged rotation being stored means every
      // one before it is: its successor is the session's unspent token, or the parent of one that a rotation
      // committed but never answered issued.
      const last = chain.rotations.at(-1);
      if (last !== undefined) {
        const [parent, child] = last;
        const childHash = hashJti(claimsOf(child).jti);
        const row = (await sql.query('select refresh_hash, previous_hash from sessions where id = $1', [chain.sid])).rows[0];
        const expected =
          row?.refresh_hash === childHash
            ? { refresh_hash: childHash, previous_hash: hashJti(claimsOf(parent).jti) }
            : { refresh_hash: hashJti(successorJti(claimsOf(child).jti)), previous_hash: childHash };
        assert.deepEqual(row, expected);
      }
      const session = await sql.query('select revoked_at from sessions where id = $1', [chain.sid]);
      assert.equal(session.rows[0]?.revoked_at, null);
    }
    assert.ok(users.length > 0 && rotations > 0, `users ${users.length}, rotations ${rotations}`);
    // The last acknowledged token of every session still rotates (on the restarted instance too).
    for (const [i, chain] of chains.entries()) {
      const res = await refresh(i % 2 === 0 ? restarted : a.get(), chain.token);
      assert.equal(res.status, 200, res.text);
    }
  });
});
