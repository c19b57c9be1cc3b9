/**
 * The Redis wiring's edges: its configuration, the prefix that separates deployments, and what a message
 * on the revocation channel may and may not do. `serve --workers` refusals are here too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { revocationLifetimeMs } from '../../src/clock.ts';
import { main } from '../../src/cli.ts';
import { ConfigError, parseConfig } from '../../src/config.ts';
import { revocationChannel, subscribeWhenReady } from '../../src/scale/redis.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';
import { dropRedisPrefix, redisKeys, redisPrefix, redisSubscribers, skipWithout } from './instances.ts';

describe('Redis configuration', () => {
  test('LATCHKEY_REDIS_PREFIX defaults to latchkey: and refuses spaces and glob characters', () => {
    assert.equal(parseConfig({}).redisPrefix, 'latchkey:');
    assert.equal(parseConfig({ LATCHKEY_REDIS_PREFIX: 'acme-prod:' }).redisPrefix, 'acme-prod:');
    for (const bad of ['has space', 'star*', 'x'.repeat(65)]) {
      assert.throws(
        () => parseConfig({ LATCHKEY_REDIS_PREFIX: bad }),
        (e: unknown) => e instanceof ConfigError && e.variable === 'LATCHKEY_REDIS_PREFIX',
      );
    }
  });

  test('REDIS_URL must be redis:// or rediss://, and a refusal never repeats it (it may hold a password)', () => {
    assert.equal(parseConfig({ REDIS_URL: 'rediss://:pw@cache:6380' }).redisUrl, 'rediss://:pw@cache:6380');
    assert.throws(
      () => parseConfig({ REDIS_URL: 'cache:6379?password=hunter2' }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'REDIS_URL' && !e.message.includes('hunter2'),
    );
  });
});

describe('serve --workers refusals', () => {
  async function serveExit(args: string[]): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    }) as typeof process.stderr.write;
    try {
      return { code: await main(['serve', ...args]), stderr };
    } finally {
      process.stderr.write = write;
    }
  }

  test('a count that is not 1-256 or auto is a usage error naming --workers', async () => {
    for (const value of ['0', '257', 'many', '-1']) {
      const { code, stderr } = await serveExit([`--workers=${value}`, '--database', 'sqlite::memory:']);
      assert.equal(code, 2, value);
      assert.match(stderr, /^latchkey: --workers: /, value);
    }
  });

  test('several workers on sqlite::memory: are refused: each process would have a database of its own', async () => {
    const { code, stderr } = await serveExit(['--workers', '2', '--database', 'sqlite::memory:']);
    assert.equal(code, 2);
    assert.match(stderr, /--workers: needs a database the workers share/);
  });
});

describe('the revocation subscription', { skip: skipWithout('redis') }, () => {
  const url = process.env.TEST_REDIS_URL ?? '';

  test('asked for during the connection handshake, it takes once the connection is ready, and again after a reconnect', async () => {
    const channel = revocationChannel(redisPrefix());
    const name = `latchkey-test-${process.pid}-${Date.now()}`;
    const subscriber = new Redis(url, { lazyConnect: true, connectionName: name });
    // 'connect': the socket is open, ioredis's handshake and ready check still to come.
    subscriber.once('connect', () => subscribeWhenReady(subscriber, channel));
    try {
      await subscriber.connect().catch(() => undefined);
      await waitUntil('one subscriber on the channel', async () => (await redisSubscribers(url, channel)) === 1);
      // A connection dropped by Redis: the new one subscribes again.
      const admin = new Redis(url);
      try {
        const list = String(await admin.client('LIST'));
        const id = /^id=(\d+) /.exec(list.split('\n').find((line) => line.includes(` name=${name} `)) ?? '')?.[1];
        assert.ok(id, `no connection named ${name}:\n${list}`);
        await admin.client('KILL', 'ID', id);
      } finally {
        admin.disconnect();
      }
      await waitUntil('the new connection subscribed', async () => {
        if (subscriber.status !== 'ready') return false;
        return (await redisSubscribers(url, channel)) === 1;
      });
    } finally {
      subscriber.disconnect();
    }
  });
});

describe('the revocation channel', { skip: skipWithout('redis') }, () => {
  const url = process.env.TEST_REDIS_URL ?? '';
  const prefix = redisPrefix();
  const otherPrefix = redisPrefix();
  let a: TestServer;
  let b: TestServer;
  let otherDeployment: TestServer;
  let publisher: Redis;

  before(async () => {
    // Databases of their own: whatever B learns about A's sessions comes through Redis.
    [a, b, otherDeployment] = await Promise.all([
      startTestServer({ env: { REDIS_URL: url, LATCHKEY_REDIS_PREFIX: prefix } }),
      startTestServer({ env: { REDIS_URL: url, LATCHKEY_REDIS_PREFIX: prefix } }),
      startTestServer({ env: { REDIS_URL: url, LATCHKEY_REDIS_PREFIX: otherPrefix } }),
    ]);
    await a.createUser('ada');
    publisher = new Redis(url);
    // A push reaches only the subscribers Redis has when it is sent; each instance subscribes in the background.
    // A failed wait says what Redis counted last and what each instance's /readyz said then.
    let seen = '';
    await waitUntil(
      'the instances subscribed',
      async () => {
        const [ours, theirs, ...ready] = await Promise.all([
          redisSubscribers(url, revocationChannel(prefix)),
          redisSubscribers(url, revocationChannel(otherPrefix)),
          ...[a, b, otherDeployment].map(async (server) => {
            const res = await server.request('GET', '/readyz');
            return `${res.status} ${res.text}`;
          }),
        ]);
        seen = `subscribers: ${ours} of 2 on ${prefix}, ${theirs} of 1 on ${otherPrefix}; /readyz: ${ready.join(' | ')}`;
        return ours >= 2 && theirs >= 1;
      },
      { detail: () => seen },
    );
  });

  after(async () => {
    publisher?.disconnect();
    await Promise.all([a?.close(), b?.close(), otherDeployment?.close()]);
    await dropRedisPrefix(url, prefix);
    await dropRedisPrefix(url, otherPrefix);
  });

  /** Waits for a message to arrive through Redis (support/wait.ts: a second on a quiet machine, scaled). */
  async function until(check: () => boolean): Promise<boolean> {
    return waitUntil('the revocation arrives through Redis', check, { timeoutMs: 1000 });
  }

  test('a revocation reaches the instances of the same prefix only', async () => {
    const { access } = await a.login('ada');
    const sid = JSON.parse(Buffer.from(access.split('.')[1] ?? '', 'base64url').toString()).sid as string;
    await a.core.sessions.revoke(sid, 'logout');
    assert.ok(await until(() => b.core.revocations.has(sid)));
    // By then the other deployment would have had it too, had it listened on our channel.
    assert.equal(otherDeployment.core.revocations.has(sid), false);
  });

  test('malformed messages are ignored, and a forged one lasts no longer than an access token', async () => {
    const channel = revocationChannel(prefix);
    for (const junk of [
      'not json',
      '[]',
      'null',
      '{"sessionId":42,"expiresAt":1}',
      '{"sessionId":"has space","expiresAt":99999999999999}',
      '{"sessionId":"x"}',
    ]) {
      await publisher.publish(channel, junk);
    }
    const forged = 'forged-session-id';
    await publisher.publish(channel, JSON.stringify({ sessionId: forged, expiresAt: Date.now() + 365 * 24 * 3600_000 }));
    assert.ok(await until(() => b.core.revocations.has(forged)));
    const entries = b.core.revocations.current();
    assert.deepEqual(
      entries.map((e) => e.sessionId).filter((id) => !/^[A-Za-z0-9_-]{22}$/.test(id)),
      [forged],
    );
    const entry = entries.find((e) => e.sessionId === forged);
    assert.ok((entry?.expiresAt ?? Infinity) <= Date.now() + revocationLifetimeMs(b.core.config));
    // B still serves.
    assert.equal((await b.request('GET', '/readyz')).status, 200);
  });

  test('rate-limit keys carry the prefix, and nothing else of ours is left in Redis', async () => {
    const limited = await startTestServer({ env: { REDIS_URL: url, LATCHKEY_REDIS_PREFIX: prefix, LATCHKEY_LIMITS: 'on' } });
    try {
      await limited.request('POST', '/api/auth/login', { body: { username: 'nobody', password: 'wrong-password' } });
      const keys = await redisKeys(url, prefix);
      assert.ok(keys.length > 0);
      for (const key of keys)
        assert.match(key, new RegExp(`^${prefix}limit:(login_per_address|login_pair|login_identifier|refresh_per_address):`));
    } finally {
      await limited.close();
    }
  });
});
