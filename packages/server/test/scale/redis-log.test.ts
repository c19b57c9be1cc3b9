/**
 * Redis outages are logged (issue 15 item 9): one warning when Redis goes away (also when it is away at
 * start, before the server has a logger), one line when it is back, whatever the number of retries in
 * between, and the URL without its password. A Redis server of the test's own is stopped and started.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RedisScale, openRedisScale } from '../../src/scale/redis.ts';
import { RedisServer, hasCommand, redisPrefix } from './instances.ts';
import { waitUntil } from '../support/wait.ts';

interface Line {
  readonly level: 'warn' | 'info' | 'debug';
  readonly obj: Record<string, unknown>;
  readonly msg: string | undefined;
}

/** A logger that keeps what it was told and lets the test wait for a line. */
function recordingLogger() {
  const lines: Line[] = [];
  const waiters: { match: (line: Line) => boolean; resolve: () => void }[] = [];
  const push = (level: Line['level']) => (obj: object, msg?: string) => {
    const line = { level, obj: obj as Record<string, unknown>, msg };
    lines.push(line);
    for (const waiter of waiters.splice(0)) {
      if (waiter.match(line)) waiter.resolve();
      else waiters.push(waiter);
    }
  };
  return {
    lines,
    logger: { warn: push('warn'), info: push('info'), debug: push('debug') },
    /** Resolves once `count` lines match (counting those already seen). */
    until(match: (line: Line) => boolean, count = 1): Promise<void> {
      return new Promise((resolve) => {
        const check = () => {
          if (lines.filter(match).length >= count) resolve();
          else waiters.push({ match: () => true, resolve: check });
        };
        check();
      });
    },
    events: () => lines.filter((l) => l.level !== 'debug').map((l) => `${l.level} ${String(l.obj.event)}`),
  };
}

const skip = hasCommand('redis-server') ? false : 'redis-server is not installed: cannot start a Redis to stop';

describe('Redis outages in the log', { skip }, () => {
  let redis: RedisServer;
  let scale: RedisScale | undefined;
  before(async () => {
    redis = await RedisServer.start();
    await redis.stop();
  });
  after(async () => {
    await scale?.close();
    await redis.stop();
  });

  test('away at start, back, away again, back: one warning and one recovery per outage, no password', async () => {
    const log = recordingLogger();
    // A password in the URL: Redis without one only warns about it, and it must never be logged.
    const url = redis.url.replace('redis://', 'redis://:hunter2-secret@');
    scale = await openRedisScale({ url, prefix: redisPrefix(), maxRevocationMs: 60_000 });
    // The server sets its logger after Redis was found away: the outage is reported then.
    scale.setLogger(log.logger);
    assert.deepEqual(log.events(), ['warn redis_unavailable']);
    const warning = log.lines[0]!;
    assert.equal(warning.obj.redis, `redis://:***@127.0.0.1:${redis.port}`);
    assert.match(
      warning.msg ?? '',
      /^redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ unavailable: .*check that Redis is running and REDIS_URL$/,
    );
    // Several failed attempts later, still one warning.
    await log.until((l) => l.obj.event === 'redis_retry', 3);
    assert.deepEqual(log.events(), ['warn redis_unavailable']);

    await redis.start();
    await log.until((l) => l.obj.event === 'redis_available');
    // The line comes with the first connection back; the subscriber reconnects on its own schedule.
    await waitUntil('both connections are back', () =>
      scale!.ping().then(
        () => true,
        () => false,
      ),
    );
    assert.deepEqual(log.events(), ['warn redis_unavailable', 'info redis_available']);

    await redis.stop();
    await log.until((l) => l.obj.event === 'redis_unavailable', 2);
    const retriesBefore = log.lines.filter((l) => l.obj.event === 'redis_retry').length;
    await log.until((l) => l.obj.event === 'redis_retry', retriesBefore + 3);
    await redis.start();
    await log.until((l) => l.obj.event === 'redis_available', 2);
    assert.deepEqual(log.events(), ['warn redis_unavailable', 'info redis_available', 'warn redis_unavailable', 'info redis_available']);
    assert.doesNotMatch(JSON.stringify(log.lines), /hunter2/);
  });
});
