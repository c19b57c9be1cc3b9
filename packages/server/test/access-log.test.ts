/**
 * Per-request access logging (`LATCHKEY_ACCESS_LOG`): off by default, so a request served writes no log
 * line of its own; `on` writes them. Security events (login_failed) are logged either way.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config.ts';
import { PASSWORD, type TestServer, matrix, startTestServer } from './support/server.ts';

interface LogLine {
  readonly msg?: string;
  readonly request_id?: string;
  readonly event?: string;
  readonly res?: { readonly statusCode?: number };
}

const parse = (lines: readonly string[]): LogLine[] => lines.map((line) => JSON.parse(line) as LogLine);
const ACCESS_MESSAGES = ['incoming request', 'request completed'];

describe('LATCHKEY_ACCESS_LOG parsing', () => {
  const base = { LATCHKEY_JWT_SECRET: 'test-secret-that-is-at-least-32-bytes-long!' };

  test('is off when unset, and on/off as written', () => {
    assert.equal(parseConfig(base).accessLog, false);
    assert.equal(parseConfig({ ...base, LATCHKEY_ACCESS_LOG: 'on' }).accessLog, true);
    assert.equal(parseConfig({ ...base, LATCHKEY_ACCESS_LOG: 'off' }).accessLog, false);
  });

  test('a value that is not a switch is refused, naming the variable', () => {
    assert.throws(
      () => parseConfig({ ...base, LATCHKEY_ACCESS_LOG: 'sometimes' }),
      (error: unknown) =>
        error instanceof ConfigError && error.variable === 'LATCHKEY_ACCESS_LOG' && error.message.includes('LATCHKEY_ACCESS_LOG'),
    );
  });
});

for (const { style, engine, name } of matrix()) {
  for (const accessLog of [undefined, 'on'] as const) {
    describe(`access log ${accessLog ?? 'by default'} (${name})`, () => {
      const logLines: string[] = [];
      let server: TestServer;
      before(async () => {
        server = await startTestServer({
          style,
          engine,
          env: accessLog === undefined ? {} : { LATCHKEY_ACCESS_LOG: accessLog },
          logger: { level: 'info', stream: { write: (chunk: string) => void logLines.push(chunk) } },
        });
        await server.createUser('ada');
      });
      after(() => server.close());

      test(accessLog === 'on' ? 'every request served writes its lines' : 'a request served writes no line of its own', async () => {
        const from = logLines.length;
        const res = await server.request('GET', '/healthz');
        assert.equal(res.status, 200);
        const requestId = res.headers.get('x-request-id');
        assert.ok(requestId);
        // Lines are written before the response ends; the stream is synchronous.
        const lines = parse(logLines.slice(from)).filter((line) => line.request_id === requestId);
        if (accessLog === 'on') {
          assert.deepEqual(
            lines.map((line) => line.msg),
            ACCESS_MESSAGES,
          );
          assert.equal(lines[1]?.res?.statusCode, 200);
        } else {
          assert.deepEqual(lines, []);
        }
      });

      test('a failed login is logged as a security event either way', async () => {
        const from = logLines.length;
        const res = await server.request('POST', '/api/auth/login', { body: { username: 'ada', password: `${PASSWORD}-wrong` } });
        assert.equal(res.status, 401);
        const requestId = res.headers.get('x-request-id');
        const lines = parse(logLines.slice(from)).filter((line) => line.request_id === requestId);
        assert.deepEqual(
          lines.filter((line) => line.event !== undefined).map((line) => line.event),
          ['login_failed'],
        );
        assert.equal(lines.filter((line) => ACCESS_MESSAGES.includes(line.msg ?? '')).length, accessLog === 'on' ? 2 : 0);
      });
    });
  }
}
