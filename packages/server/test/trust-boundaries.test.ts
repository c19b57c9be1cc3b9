/**
 * Trust boundaries (issue 10, items 8, 10 and 12): which proxy hops are believed, where the client address comes
 * from, what decides the refresh cookie's Secure flag, and how long a client may take to send a request.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { PASSWORD, type TestServer, matrix, startTestServer, tokensOf } from './support/server.ts';

interface RawResult {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** node:http rather than fetch: fetch does not let a caller set Host. */
function rawRequest(server: TestServer, method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${path}`, { method, headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function login(server: TestServer, headers: Record<string, string>): Promise<RawResult> {
  return rawRequest(
    server,
    'POST',
    '/api/auth/login',
    { 'content-type': 'application/json', ...headers },
    JSON.stringify({ username: 'ada', password: PASSWORD }),
  );
}

function refreshCookieOf(result: RawResult): string {
  const cookie = (result.headers['set-cookie'] ?? []).find((c) => c.startsWith('latchkey_refresh='));
  assert.ok(cookie, JSON.stringify(result.headers));
  return cookie;
}

/** The address the server recorded for the session a login created. */
async function sessionAddress(server: TestServer, result: RawResult): Promise<string> {
  assert.equal(result.status, 200, result.body);
  const { access } = tokensOf(
    { status: result.status, headers: new Headers(), body: JSON.parse(result.body), text: result.body },
    server.style,
  );
  const list = await server.request('GET', '/api/auth/sessions', { token: access });
  const items = server.style === 'flat' ? list.body.items : list.body.data;
  const current = items.find((s: { current: boolean }) => s.current);
  return current.ip;
}

for (const { style, engine, name } of matrix()) {
  describe(`LATCHKEY_TRUST_PROXY (${name})`, () => {
    test('true is one hop: the rightmost X-Forwarded-For entry is the client, not the client-written leftmost one', async (t) => {
      const server = await startTestServer({ style, engine, env: { LATCHKEY_TRUST_PROXY: 'true' } });
      t.after(() => server.close());
      await server.createUser('ada');
      assert.equal(await sessionAddress(server, await login(server, { 'x-forwarded-for': '6.6.6.6, 203.0.113.7' })), '203.0.113.7');
    });

    test('a client cannot dodge the per-address login limit by writing its own X-Forwarded-For entry', async (t) => {
      const server = await startTestServer({
        style,
        engine,
        env: { LATCHKEY_TRUST_PROXY: '1', LATCHKEY_LIMITS: 'on', LATCHKEY_LIMIT_LOGIN_PER_ADDRESS: '3/1m' },
      });
      t.after(() => server.close());
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await rawRequest(
          server,
          'POST',
          '/api/auth/login',
          { 'content-type': 'application/json', 'x-forwarded-for': `10.9.8.${i}, 198.51.100.4` },
          JSON.stringify({ username: `nobody${i}`, password: 'wrong-password' }),
        );
        statuses.push(res.status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 429]);
    });

    test('a list of proxies: every trusted hop is skipped, the first untrusted one from the right is the client', async (t) => {
      const server = await startTestServer({ style, engine, env: { LATCHKEY_TRUST_PROXY: '127.0.0.1,10.0.0.0/8' } });
      t.after(() => server.close());
      await server.createUser('ada');
      assert.equal(
        await sessionAddress(server, await login(server, { 'x-forwarded-for': '6.6.6.6, 192.0.2.9, 10.1.2.3, 10.4.5.6' })),
        '192.0.2.9',
      );
    });

    test('a value that is not an IP address is never used: the proxy that passed it on stands in', async (t) => {
      const server = await startTestServer({ style, engine, env: { LATCHKEY_TRUST_PROXY: '1' } });
      t.after(() => server.close());
      await server.createUser('ada');
      for (const junk of ['<script>', 'unknown', '1.2.3.4:80']) {
        assert.equal(await sessionAddress(server, await login(server, { 'x-forwarded-for': junk })), '127.0.0.1');
      }
    });

    test('without trust, X-Forwarded-For is ignored', async (t) => {
      const server = await startTestServer({ style, engine });
      t.after(() => server.close());
      await server.createUser('ada');
      assert.equal(await sessionAddress(server, await login(server, { 'x-forwarded-for': '203.0.113.7' })), '127.0.0.1');
    });
  });

  describe(`the refresh cookie's Secure flag (${name})`, () => {
    test('LATCHKEY_PUBLIC_URL https: Secure even when plain http arrives with a loopback Host', async (t) => {
      const server = await startTestServer({ style, engine, env: { LATCHKEY_PUBLIC_URL: 'https://auth.example.com' } });
      t.after(() => server.close());
      await server.createUser('ada');
      for (const host of ['127.0.0.1', 'localhost']) {
        assert.match(refreshCookieOf(await login(server, { host })), /; Secure/);
      }
    });

    test('local development (http on a loopback LATCHKEY_PUBLIC_URL): no Secure over plain http, whatever Host says', async (t) => {
      const server = await startTestServer({ style, engine });
      t.after(() => server.close());
      await server.createUser('ada');
      for (const host of ['127.0.0.1', 'auth.example.com']) {
        assert.doesNotMatch(refreshCookieOf(await login(server, { host })), /; Secure/);
      }
      // X-Forwarded-Proto is the client's to write unless a proxy is trusted.
      assert.doesNotMatch(refreshCookieOf(await login(server, { 'x-forwarded-proto': 'https' })), /; Secure/);
    });

    test('behind a trusted proxy, the real scheme (X-Forwarded-Proto https) makes it Secure', async (t) => {
      const server = await startTestServer({ style, engine, env: { LATCHKEY_TRUST_PROXY: '127.0.0.1' } });
      t.after(() => server.close());
      await server.createUser('ada');
      assert.match(refreshCookieOf(await login(server, { 'x-forwarded-proto': 'https' })), /; Secure/);
    });
  });

  describe(`request timeouts (${name})`, () => {
    test('a body trickled slower than LATCHKEY_REQUEST_TIMEOUT gets a 408 in the style, and the connection closes', async (t) => {
      const server = await startTestServer({ style, engine, env: { LATCHKEY_REQUEST_TIMEOUT: '1s' } });
      t.after(() => server.close());
      const { port } = new URL(server.url);
      const socket = connect(Number(port), '127.0.0.1');
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.write(
        'POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n{"user',
      );
      // Keep trickling a byte now and then, as a slowloris client would, until the server gives up.
      const trickle = setInterval(() => socket.writable && socket.write(' '), 200);
      await closed;
      clearInterval(trickle);
      const [head = '', body = ''] = received.split('\r\n\r\n');
      assert.match(head, /^HTTP\/1\.1 408 /);
      assert.match(head, /content-type: application\/json; charset=utf-8/i);
      const parsed = JSON.parse(body);
      if (style === 'flat') assert.deepEqual(parsed, { error: 'request timed out' });
      else assert.deepEqual(parsed.error, { code: 'REQUEST_TIMEOUT', message: 'Request timed out' });
    });
  });
}
