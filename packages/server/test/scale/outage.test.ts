/**
 * Outages (issue 3, point 4): a Redis and a PostgreSQL of the test's own are stopped and started again
 * mid-test. Requests never hang; what needs the missing dependency is a 503 in the style's shape within
 * 2 s; `/readyz` names the dependency; service resumes by itself.
 *
 * Rate limiting while Redis is down fails open to local limits (src/scale/redis.ts): login and refresh
 * keep working and stay limited, counted per instance.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../src/config.ts';
import { revocationChannel } from '../../src/scale/redis.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import { PASSWORD, TEST_SECRET, type TestServer, claimsOf, startTestServer, TEST_ARGON2 } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';
import {
  PostgresCluster,
  RedisServer,
  dropRedisPrefix,
  hasCommand,
  http,
  postgresBin,
  redisKeys,
  redisPrefix,
  redisSubscribers,
  skipWithout,
} from './instances.ts';

/** Fail fast: the bound for an answer while a dependency is away. */
const FAST_MS = 2000;

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await run();
  return { value, ms: Date.now() - started };
}

/** Polls until `check` holds (service resuming by itself), failing after `timeoutMs` (scaled: support/wait.ts). */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  await waitUntil(what, check, { timeoutMs, intervalMs: 100 });
}

const redisSkip =
  skipWithout('redis') || (hasCommand('redis-server') ? false : 'redis-server is not installed: cannot start a Redis to stop');

describe('a Redis outage', { skip: redisSkip }, () => {
  let redis: RedisServer;
  let prefix: string;
  let a: TestServer;
  let b: TestServer;
  let nextAddress = 1;
  const address = () => ({ 'x-forwarded-for': `203.0.113.${nextAddress++}` });

  before(async () => {
    redis = await RedisServer.start();
    prefix = redisPrefix();
    const env = {
      REDIS_URL: redis.url,
      LATCHKEY_REDIS_PREFIX: prefix,
      LATCHKEY_LIMITS: 'on',
      LATCHKEY_TRUST_PROXY: 'true',
      LATCHKEY_LIMIT_LOGIN_PER_ADDRESS: '3/1m',
    };
    // Two instances on databases of their own: what one learns from the other can only come through Redis.
    [a, b] = await Promise.all([startTestServer({ env }), startTestServer({ env, style: 'envelope' })]);
    await a.createUser('ada');
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  const login = (from = address()) =>
    a.request('POST', '/api/auth/login', { body: { username: 'ada', password: PASSWORD }, headers: from });

  /** A revocation on A reaches B through Redis pub/sub (B's database has no such session). */
  async function revocationReachesB(): Promise<void> {
    const res = await login();
    assert.equal(res.status, 200, res.text);
    const sid = claimsOf(res.body.token).sid as string;
    assert.equal(b.core.revocations.has(sid), false);
    // A push is not kept for a subscriber that is not there yet: a start or a reconnect subscribes in the
    // background (B's "ready" means connected, not yet subscribed), so wait until Redis counts both instances.
    await eventually('A and B subscribed', async () => (await redisSubscribers(redis.url, revocationChannel(prefix))) >= 2);
    await a.core.sessions.revoke(sid, 'logout');
    await eventually('the revocation reaching B', async () => b.core.revocations.has(sid), 1000);
  }

  test('with Redis up, counters live under the prefix and revocations are pushed', async () => {
    const ready = await a.request('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ok', checks: { database: 'ok', redis: 'ok' } });
    const from = address();
    assert.equal((await login(from)).status, 200);
    assert.ok((await redisKeys(redis.url, prefix)).includes(`${prefix}limit:login_per_address:${from['x-forwarded-for']}`));
    await revocationReachesB();
  });

  test('with Redis stopped, requests are answered fast, limits still hold, /readyz says redis: down', async () => {
    await redis.stop();
    const loggedIn = await timed(() => login());
    assert.equal(loggedIn.value.status, 200, loggedIn.value.text);
    assert.ok(loggedIn.ms < FAST_MS, `login took ${loggedIn.ms} ms`);

    const refreshed = await timed(() =>
      a.request('POST', '/api/auth/refresh', { body: { refresh_token: loggedIn.value.body.refresh_token }, headers: address() }),
    );
    assert.equal(refreshed.value.status, 200);
    assert.ok(refreshed.ms < FAST_MS, `refresh took ${refreshed.ms} ms`);

    // Fail open to local limits: this instance still counts, in memory.
    const from = address();
    for (let i = 0; i < 3; i++) assert.equal((await login(from)).status, 200);
    const limited = await login(from);
    assert.equal(limited.status, 429);
    assert.deepEqual(limited.body, { error: 'Too many requests. Please try again later.' });

    // A logout still works, and this instance refuses the session at once.
    const session = await login();
    const logout = await timed(() => a.request('POST', '/api/auth/logout', { token: session.body.token }));
    assert.equal(logout.value.status, 204);
    assert.ok(logout.ms < FAST_MS, `logout took ${logout.ms} ms`);
    assert.equal((await a.request('GET', '/api/auth/verify', { token: session.body.token })).status, 401);

    for (const [server, style] of [
      [a, 'flat'],
      [b, 'envelope'],
    ] as const) {
      const ready = await timed(() => server.request('GET', '/readyz'));
      assert.equal(ready.value.status, 503);
      assert.ok(ready.ms < FAST_MS, `/readyz took ${ready.ms} ms`);
      const checks = { database: 'ok', redis: 'down' };
      if (style === 'flat') assert.deepEqual(ready.value.body, { status: 'unavailable', checks });
      else assert.deepEqual(ready.value.body.data, { status: 'unavailable', checks });
    }
  });

  test('when Redis returns, service resumes by itself: ready again, counters and pushes through Redis', async () => {
    await redis.start();
    await eventually('A ready again', async () => (await a.request('GET', '/readyz')).status === 200);
    await eventually('B ready again', async () => (await b.request('GET', '/readyz')).status === 200);
    const from = address();
    assert.equal((await login(from)).status, 200);
    assert.ok((await redisKeys(redis.url, prefix)).includes(`${prefix}limit:login_per_address:${from['x-forwarded-for']}`));
    // B subscribed again after the reconnect.
    await revocationReachesB();
    await dropRedisPrefix(redis.url, prefix);
  });
});

const bin = postgresBin();
const pgSkip =
  skipWithout('postgres') || (bin === undefined ? 'initdb/pg_ctl are not installed: cannot start a PostgreSQL to stop' : false);

describe('a PostgreSQL outage', { skip: pgSkip }, () => {
  let cluster: PostgresCluster;
  const servers: { style: 'flat' | 'envelope'; server: RunningServer; tokens: { access: string; refresh: string } }[] = [];

  before(async () => {
    cluster = await PostgresCluster.create(bin as string);
    for (const style of ['flat', 'envelope'] as const) {
      const config = parseConfig({
        PORT: '0',
        DATABASE_URL: cluster.url,
        LATCHKEY_API_STYLE: style,
        LATCHKEY_JWT_SECRET: TEST_SECRET,
        LATCHKEY_LIMITS: 'off',
        LATCHKEY_ADMIN_USERNAME: 'root',
        LATCHKEY_ADMIN_PASSWORD: 'root-password-for-tests',
        LOG_LEVEL: 'silent',
      });
      const server = await startServer(config, { logger: false, argon2Cost: TEST_ARGON2 });
      servers.push({ style, server, tokens: { access: '', refresh: '' } });
    }
  });

  after(async () => {
    for (const { server } of servers) await server.close().catch(() => {});
    cluster?.destroy();
  });

  const loginTo = (server: RunningServer) =>
    http(server.url, 'POST', '/api/auth/login', { body: { username: 'root', password: 'root-password-for-tests' } });

  test('with PostgreSQL up, both styles serve', async () => {
    for (const entry of servers) {
      const res = await loginTo(entry.server);
      assert.equal(res.status, 200, res.text);
      const data = entry.style === 'flat' ? res.body : res.body.data;
      entry.tokens = { access: data.token, refresh: data.refresh_token ?? data.refreshToken };
    }
  });

  test('with PostgreSQL stopped, what needs it is a 503 in the style’s shape within 2 s, and /readyz says database: down', async () => {
    cluster.stop();
    for (const { style, server, tokens } of servers) {
      const attempts = [
        () => loginTo(server),
        () => http(server.url, 'POST', '/api/auth/refresh', { body: { refresh_token: tokens.refresh } }),
        () => http(server.url, 'POST', '/api/auth/logout', { token: tokens.access }),
        () => http(server.url, 'GET', '/api/auth/me', { token: tokens.access }),
      ];
      for (const attempt of attempts) {
        const { value: res, ms } = await timed(attempt);
        assert.equal(res.status, 503, `${style}: ${res.text}`);
        assert.ok(ms < FAST_MS, `${style}: answered after ${ms} ms`);
        assert.equal(res.headers.get('retry-after'), '1');
        if (style === 'flat') assert.deepEqual(res.body, { error: 'service unavailable' });
        else {
          assert.deepEqual(res.body.error, { code: 'SERVICE_UNAVAILABLE', message: 'Service unavailable' });
          assert.equal(res.body.data, null);
        }
      }
      const ready = await timed(() => http(server.url, 'GET', '/readyz'));
      assert.equal(ready.value.status, 503);
      assert.ok(ready.ms < FAST_MS, `/readyz took ${ready.ms} ms`);
      const body = style === 'flat' ? ready.value.body : ready.value.body.data;
      assert.deepEqual(body, { status: 'unavailable', checks: { database: 'down' } });
      // The process itself is alive, and what answers from memory still answers: /verify (forward auth).
      assert.equal((await http(server.url, 'GET', '/healthz')).status, 200);
      assert.equal((await http(server.url, 'GET', '/api/auth/verify', { token: tokens.access })).status, 200);
    }
  });

  test('when PostgreSQL returns, service resumes by itself with nothing lost', async () => {
    cluster.start();
    for (const { style, server, tokens } of servers) {
      await eventually(`${style} ready again`, async () => (await http(server.url, 'GET', '/readyz')).status === 200);
      assert.equal((await loginTo(server)).status, 200);
      // The session opened before the outage rotates.
      const res = await http(server.url, 'POST', '/api/auth/refresh', { body: { refresh_token: tokens.refresh } });
      assert.equal(res.status, 200, res.text);
    }
  });
});
