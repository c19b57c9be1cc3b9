import assert from 'node:assert/strict';
import { type IncomingMessage, get as httpGet } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { type TestServer, claimsOf, engines, errorOf, startTestServer } from './support/server.ts';
import { waitUntil } from './support/wait.ts';

const FEED_KEY = 'feed-key-for-tests-0123456789abcdef';

/** An open SSE connection (node:http, so that closing it leaves no spare connection behind) whose text accumulates until a predicate holds. */
async function subscribe(url: string, key?: string) {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpGet(url + '/api/auth/revocations', { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } }, resolve);
    req.on('error', reject);
  });
  response.setEncoding('utf8');
  const chunks = response[Symbol.asyncIterator]();
  let text = '';
  return {
    response,
    async until(predicate: (text: string) => boolean): Promise<string> {
      while (!predicate(text)) {
        const { value, done } = await chunks.next();
        if (done) throw new Error(`stream ended: ${text}`);
        text += value as string;
      }
      return text;
    },
    close: () => response.destroy(),
  };
}

for (const engine of engines()) {
  for (const style of ['flat', 'envelope'] as const) {
    describe(`GET /api/auth/revocations (${style} style on ${engine})`, () => {
      let server: TestServer;
      before(async () => {
        server = await startTestServer({ style, engine, env: { LATCHKEY_REVOCATION_FEED_KEY: FEED_KEY } });
        await server.createUser('ada');
      });
      after(() => server.close());

      test('without the feed key, or with a wrong one, the answer is a 401 in the style of the contract', async () => {
        const missing = await server.request('GET', '/api/auth/revocations');
        assert.equal(missing.status, 401);
        assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
        assert.equal(errorOf(missing, style), style === 'flat' ? 'missing authorization header' : 'UNAUTHORIZED');
        for (const key of ['wrong', FEED_KEY + 'x', FEED_KEY.slice(0, -1)]) {
          const wrong = await server.request('GET', '/api/auth/revocations', { token: key });
          assert.equal(wrong.status, 401);
          assert.equal(errorOf(wrong, style), style === 'flat' ? 'invalid or expired token' : 'UNAUTHORIZED');
        }
      });

      test('without LATCHKEY_REVOCATION_FEED_KEY the feed is closed (401) unless LATCHKEY_REVOCATION_FEED=public', async () => {
        const closed = await startTestServer({ style, engine });
        try {
          for (const token of [undefined, '', 'anything']) {
            const res = await closed.request('GET', '/api/auth/revocations', token === undefined ? {} : { token });
            assert.equal(res.status, 401);
            assert.equal(res.headers.get('www-authenticate'), 'Bearer');
          }
        } finally {
          await closed.close();
        }
        const open = await startTestServer({ style, engine, env: { LATCHKEY_REVOCATION_FEED: 'public' } });
        try {
          const feed = await subscribe(open.url);
          assert.equal(feed.response.statusCode, 200);
          await feed.until((t) => t.includes('event: ready\n'));
          feed.close();
        } finally {
          await open.close();
        }
      });

      test('a key with "!", "$" or spaces authenticates: it is compared as an opaque string', async () => {
        const key = 'p@ss w0rd!$with spaces & "quotes"';
        const other = await startTestServer({ style, engine, env: { LATCHKEY_REVOCATION_FEED_KEY: key } });
        try {
          const feed = await subscribe(other.url, key);
          assert.equal(feed.response.statusCode, 200);
          await feed.until((t) => t.includes('event: ready\n'));
          feed.close();
          for (const wrong of ['p@ss', key + ' x', key.toUpperCase()]) {
            assert.equal(
              (await other.request('GET', '/api/auth/revocations', { headers: { authorization: `Bearer ${wrong}` } })).status,
              401,
            );
          }
          const malformed = await other.request('GET', '/api/auth/revocations', { headers: { authorization: key } });
          assert.equal(malformed.status, 401);
          assert.equal(errorOf(malformed, style), style === 'flat' ? 'invalid authorization header format' : 'UNAUTHORIZED');
        } finally {
          await other.close();
        }
      });

      test('past LATCHKEY_REVOCATION_FEED_MAX_CONNECTIONS a subscriber gets 503 with Retry-After; a freed place is reused', async () => {
        const other = await startTestServer({
          style,
          engine,
          env: { LATCHKEY_REVOCATION_FEED_KEY: FEED_KEY, LATCHKEY_REVOCATION_FEED_MAX_CONNECTIONS: '2' },
        });
        try {
          const first = await subscribe(other.url, FEED_KEY);
          const second = await subscribe(other.url, FEED_KEY);
          await first.until((t) => t.includes('event: ready\n'));
          await second.until((t) => t.includes('event: ready\n'));
          const refused = await other.request('GET', '/api/auth/revocations', { token: FEED_KEY });
          assert.equal(refused.status, 503);
          assert.equal(refused.headers.get('retry-after'), '1');
          assert.equal(errorOf(refused, style), style === 'flat' ? 'service unavailable' : 'SERVICE_UNAVAILABLE');
          first.close();
          // The server frees the place when it sees the close; try until it has.
          let status = 503;
          while (status === 503) {
            const again = await subscribe(other.url, FEED_KEY);
            status = again.response.statusCode ?? 0;
            again.close();
            if (status === 503) await new Promise((r) => setTimeout(r, 50));
          }
          assert.equal(status, 200);
          second.close();
        } finally {
          await other.close();
        }
      });

      test('a subscriber gets the revocations still relevant, then ready, then live revocations', async () => {
        const earlier = await server.login('ada');
        assert.equal((await server.request('POST', '/api/auth/logout', { token: earlier.access })).status, 204);
        const feed = await subscribe(server.url, FEED_KEY);
        try {
          assert.equal(feed.response.statusCode, 200);
          assert.equal(feed.response.headers['content-type'], 'text/event-stream; charset=utf-8');
          assert.equal(feed.response.headers['cache-control'], 'no-store');
          assert.match(String(feed.response.headers['x-request-id']), /^[A-Za-z0-9._-]+$/);
          const initial = await feed.until((t) => t.includes('event: ready\n'));
          assert.match(initial, /^retry: 1000\n\n/);
          const events = [...initial.matchAll(/event: revoked\ndata: (.*)\n\n/g)].map((m) => JSON.parse(m[1] ?? ''));
          const sid = claimsOf(earlier.access).sid;
          const mine = events.find((e) => e.sid === sid);
          assert.ok(mine, initial);
          assert.deepEqual(Object.keys(mine), ['sid', 'exp']);
          // The last access token of the session is dead by exp (its TTL plus the 30 s skew).
          assert.ok(mine.exp >= claimsOf(earlier.access).exp + 30);
          assert.match(initial, new RegExp(`event: ready\ndata: \\{"count":${events.length}\\}\n\n$`));

          const live = await server.login('ada');
          await server.request('POST', '/api/auth/logout', { token: live.access });
          const liveSid = claimsOf(live.access).sid;
          const more = await feed.until((t) => t.includes(liveSid));
          assert.match(more, new RegExp(`event: revoked\ndata: \\{"sid":"${liveSid}","exp":\\d+\\}\n\n`));
        } finally {
          feed.close();
        }
      });

      test('a subscriber that stops reading is dropped once it falls a megabyte behind, freeing its place', async () => {
        const other = await startTestServer({
          style,
          engine,
          env: { LATCHKEY_REVOCATION_FEED: 'public', LATCHKEY_REVOCATION_FEED_MAX_CONNECTIONS: '1' },
        });
        const stalled = await subscribe(other.url);
        try {
          await stalled.until((t) => t.includes('event: ready\n'));
          stalled.response.pause();
          let dropped = false;
          stalled.response.socket.once('close', () => (dropped = true));
          // Far more than the socket buffers and the limit hold together (each event is ~270 bytes).
          const expiresAt = Date.now() + 60_000;
          for (let i = 0; i < 120_000; i++) other.core.revocations.remember({ sessionId: `${i}-${'s'.repeat(200)}`, expiresAt });
          await waitUntil('the stalled subscriber dropped by the server', () => dropped);
          const next = await subscribe(other.url);
          try {
            assert.equal(next.response.statusCode, 200);
          } finally {
            next.close();
          }
        } finally {
          stalled.close();
          await other.close();
        }
      });

      test('the server closes promptly while subscribers are connected', async () => {
        const other = await startTestServer({ style, engine, env: { LATCHKEY_REVOCATION_FEED: 'public' } });
        const feed = await subscribe(other.url);
        await feed.until((t) => t.includes('event: ready'));
        await other.close();
        await assert.rejects(
          feed.until(() => false),
          /stream ended/,
        );
      });
    });
  }
}
