import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RouteInstaller } from '../src/http/app.ts';
import { type HttpResult, PASSWORD, type Style, type TestServer, matrix, startTestServer, tokensOf } from './support/server.ts';

const JSON_TYPE = 'application/json; charset=utf-8';
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** The extension point other parts of the server use; here it adds routes that fail in unexpected ways. */
const failingRoutes: RouteInstaller = (app) => {
  app.get('/test/boom', async () => {
    throw new Error('kaboom: connection string postgres://admin:hunter2@db');
  });
  app.get('/test/boom-string', async () => {
    // Not even an Error.
    throw 'a thrown string with a secret: hunter2';
  });
  app.get('/test/boom-type', async () => {
    const value: unknown = undefined;
    return (value as { field: string }).field.length;
  });
};

/** Every object key in `value`, at any depth, with its path. */
function keysOf(value: unknown, path = '$'): [string, string][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => keysOf(v, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [[k, `${path}.${k}`] as [string, string], ...keysOf(v, `${path}.${k}`)]);
  }
  return [];
}

/** The value of one Prometheus sample (0 when absent). */
function sample(metrics: string, series: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

function assertError(res: HttpResult, style: Style, status: number, flat: string, code: string, message: string): void {
  const where = `${res.status} ${res.text.slice(0, 200)}`;
  assert.equal(res.status, status, where);
  assert.equal(res.headers.get('content-type'), JSON_TYPE, where);
  if (style === 'flat') assert.deepEqual(res.body, { error: flat }, where);
  else {
    assert.deepEqual(Object.keys(res.body), ['data', 'error', 'meta'], where);
    assert.equal(res.body.data, null);
    assert.deepEqual(res.body.error, { code, message }, where);
    assert.equal(res.body.meta.requestId, res.headers.get('x-request-id'));
  }
}

for (const { style, engine, name } of matrix()) {
  describe(`operations (${name})`, () => {
    const logLines: string[] = [];
    let server: TestServer;
    before(async () => {
      server = await startTestServer({
        style,
        engine,
        routes: [failingRoutes],
        logger: { level: 'error', stream: { write: (chunk: string) => void logLines.push(chunk) } },
      });
      await server.createUser('ada');
    });
    after(() => server.close());

    const data = (res: HttpResult) => (style === 'flat' ? res.body : res.body.data);

    test('/healthz answers 200 while the process is alive', async () => {
      const res = await server.request('GET', '/healthz');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), JSON_TYPE);
      assert.deepEqual(data(res), { status: 'ok' });
      if (style === 'envelope') assert.equal(res.body.error, null);
    });

    test('every answer carries X-Content-Type-Options: nosniff (JSON, Prometheus text, errors, the token body)', async () => {
      const answers = [
        await server.request('GET', '/healthz'),
        await server.request('GET', '/metrics'),
        await server.request('GET', '/api/auth/me'),
        await server.request('GET', '/api/nowhere'),
        await server.request('POST', '/api/auth/login', { body: { username: 'root', password: 'root-password-for-tests' } }),
      ];
      assert.deepEqual(
        answers.map((res) => [res.status, res.headers.get('x-content-type-options')]),
        [
          [200, 'nosniff'],
          [200, 'nosniff'],
          [401, 'nosniff'],
          [404, 'nosniff'],
          [200, 'nosniff'],
        ],
      );
    });

    test('/readyz answers 200 with checks.database ok', async () => {
      const res = await server.request('GET', '/readyz');
      assert.equal(res.status, 200);
      assert.equal(data(res).status, 'ok');
      assert.equal(data(res).checks.database, 'ok');
    });

    test('/metrics is Prometheus text whose request and login counters move', async () => {
      const before = await server.request('GET', '/metrics');
      assert.equal(before.status, 200);
      assert.match(before.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.match(before.text, /^# TYPE latchkey_http_requests_total counter$/m);
      assert.match(before.text, /^# TYPE latchkey_http_request_duration_seconds histogram$/m);
      assert.match(before.text, /^# TYPE latchkey_logins_total counter$/m);

      assert.equal((await server.request('POST', '/api/auth/login', { body: { username: 'ada', password: PASSWORD } })).status, 200);
      for (let i = 0; i < 2; i++)
        assert.equal(
          (await server.request('POST', '/api/auth/login', { body: { username: 'ada', password: 'wrong password' } })).status,
          401,
        );

      const afterText = (await server.request('GET', '/metrics')).text;
      const delta = (series: string) => sample(afterText, series) - sample(before.text, series);
      assert.equal(delta('latchkey_logins_total{outcome="success"}'), 1);
      assert.equal(delta('latchkey_logins_total{outcome="failure"}'), 2);
      assert.equal(delta('latchkey_http_requests_total{route="/api/auth/login",method="POST",status="200"}'), 1);
      assert.equal(delta('latchkey_http_requests_total{route="/api/auth/login",method="POST",status="401"}'), 2);
      assert.equal(delta('latchkey_http_request_duration_seconds_count{route="/api/auth/login",method="POST",status="401"}'), 2);
      assert.match(
        afterText,
        /^latchkey_http_request_duration_seconds_bucket\{le="\+Inf",route="\/api\/auth\/login",method="POST",status="200"\} \d+$/m,
      );
      // Unknown paths are counted under one label, so a scanner cannot explode the series count.
      await server.request('GET', `/scan/${Date.now()}`);
      const scanned = (await server.request('GET', '/metrics')).text;
      assert.doesNotMatch(scanned, /route="\/scan\//);
      assert.match(scanned, /latchkey_http_requests_total\{route="unmatched",method="GET",status="404"\} \d+/);
    });

    test('/openapi.json is an OpenAPI 3.1 document listing the auth paths', async () => {
      const res = await server.request('GET', '/openapi.json');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), JSON_TYPE);
      // A standard document: never wrapped in the envelope.
      assert.equal(res.body.openapi, '3.1.0');
      assert.equal(typeof res.body.info.title, 'string');
      const paths = res.body.paths as Record<string, Record<string, unknown>>;
      for (const [path, method] of [
        ['/api/auth/login', 'post'],
        ['/api/auth/refresh', 'post'],
        ['/api/auth/logout', 'post'],
        ['/api/auth/verify', 'get'],
        ['/api/auth/me', 'get'],
        ['/api/auth/password', 'post'],
        ['/api/auth/sessions', 'get'],
        ['/healthz', 'get'],
        ['/readyz', 'get'],
      ] as const) {
        assert.ok(paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
      }
      const login = paths['/api/auth/login']?.post as {
        requestBody: { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
      };
      const schema = Object.values(login.requestBody.content)[0]?.schema;
      assert.deepEqual(Object.keys(schema?.properties ?? {}).sort(), ['email', 'password', 'username']);
    });

    test('/docs serves an HTML page to read the API', async () => {
      const res = await server.request('GET', '/docs');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(res.text, /<html/i);
    });

    test('an unknown route is a JSON 404, even when the client asks for HTML', async () => {
      for (const [method, path] of [
        ['GET', '/nope'],
        ['POST', '/api/auth/nope'],
        ['GET', '/api/auth/login/extra'],
        ['GET', '/.env'],
      ] as const) {
        const res = await server.request(method, path, { headers: { accept: 'text/html' } });
        assertError(res, style, 404, 'not found', 'NOT_FOUND', 'Not found');
      }
    });

    test('a wrong method is a JSON 405 with Allow', async () => {
      const login = await server.request('DELETE', '/api/auth/login');
      assertError(login, style, 405, 'method not allowed', 'METHOD_NOT_ALLOWED', 'Method not allowed');
      assert.equal(login.headers.get('allow'), 'POST');
      const health = await server.request('POST', '/healthz', { body: {} });
      assertError(health, style, 405, 'method not allowed', 'METHOD_NOT_ALLOWED', 'Method not allowed');
      assert.ok((health.headers.get('allow') ?? '').split(', ').includes('GET'), health.headers.get('allow') ?? '');
      const session = await server.request('GET', '/api/auth/sessions/some-id');
      assertError(session, style, 405, 'method not allowed', 'METHOD_NOT_ALLOWED', 'Method not allowed');
      assert.equal(session.headers.get('allow'), 'DELETE');
    });

    test('an unexpected failure is a JSON 500 that reveals nothing; the cause is logged with the request id', async () => {
      for (const path of ['/test/boom', '/test/boom-string', '/test/boom-type']) {
        const res = await server.request('GET', path, { headers: { 'x-request-id': `boom-${path.slice(6)}` } });
        assertError(res, style, 500, 'internal server error', 'INTERNAL_ERROR', 'Internal server error');
        assert.doesNotMatch(res.text, /kaboom|hunter2|undefined|stack/i);
      }
      const logged = logLines.map((l) => JSON.parse(l) as { request_id?: string; msg?: string; err?: { message?: string } });
      const boom = logged.find((l) => l.request_id === 'boom-boom');
      assert.equal(boom?.msg, 'unexpected error');
      assert.match(boom?.err?.message ?? '', /kaboom/);
      // The server keeps serving.
      assert.equal((await server.request('POST', '/api/auth/login', { body: { username: 'ada', password: PASSWORD } })).status, 200);
    });

    test('every response carries X-Request-Id, a well-formed incoming one echoed', async () => {
      const { access, refresh } = await server.login('ada');
      const requests: [string, string, Parameters<TestServer['request']>[2]][] = [
        ['GET', '/healthz', {}],
        ['GET', '/readyz', {}],
        ['GET', '/metrics', {}],
        ['GET', '/docs', {}],
        ['GET', '/openapi.json', {}],
        ['GET', '/.well-known/jwks.json', {}],
        ['POST', '/api/auth/login', { body: { username: 'ada', password: PASSWORD } }],
        ['POST', '/api/auth/login', { body: { username: 'ada' } }],
        ['POST', '/api/auth/login', { body: { username: 'ada', password: 'x', pad: 'x'.repeat(70_000) } }],
        ['POST', '/api/auth/refresh', { body: { refresh_token: refresh } }],
        ['GET', '/api/auth/verify', { token: access }],
        ['GET', '/api/auth/me', {}],
        ['GET', '/nope', {}],
        ['PUT', '/api/auth/login', {}],
        ['GET', '/test/boom', {}],
        ['GET', '/%zz', {}],
        ['POST', '/api/auth/logout', { token: access }],
      ];
      for (const [i, [method, path, options]] of requests.entries()) {
        const generated = await server.request(method, path, options);
        assert.match(generated.headers.get('x-request-id') ?? '', REQUEST_ID, `${method} ${path} (${generated.status})`);
        const id = `trace.${i}-${method}`;
        const echoed = await server.request(method, path, { ...options, headers: { ...options?.headers, 'x-request-id': id } });
        assert.equal(echoed.headers.get('x-request-id'), id, `${method} ${path} (${echoed.status})`);
      }
    });

    test(`every body key follows the style's casing (${style === 'flat' ? 'snake_case' : 'camelCase'}), at any depth`, async () => {
      const { access, refresh } = await server.login('ada');
      const bodies: [string, HttpResult][] = [
        ['login', await server.request('POST', '/api/auth/login', { body: { username: 'ada', password: PASSWORD } })],
        ['refresh', await server.request('POST', '/api/auth/refresh', { body: { refresh_token: refresh } })],
        ['verify', await server.request('GET', '/api/auth/verify', { token: access })],
        ['me', await server.request('GET', '/api/auth/me', { token: access })],
        ['sessions', await server.request('GET', '/api/auth/sessions', { token: access })],
        ['healthz', await server.request('GET', '/healthz')],
        ['readyz', await server.request('GET', '/readyz')],
        ['400', await server.request('POST', '/api/auth/login', { body: { username: 'ada', password: 12 } })],
        ['400 refresh', await server.request('POST', '/api/auth/refresh', { body: { refresh_token: 42 } })],
        ['401 refresh', await server.request('POST', '/api/auth/refresh', { body: {} })],
        ['401', await server.request('GET', '/api/auth/me')],
        ['404', await server.request('GET', '/nope')],
        ['405', await server.request('PATCH', '/api/auth/me')],
        ['413', await server.request('POST', '/api/auth/login', { body: { username: 'ada', password: 'x'.repeat(70_000) } })],
        ['500', await server.request('GET', '/test/boom')],
      ];
      const casing = style === 'flat' ? /^[a-z][a-z0-9_]*$/ : /^[a-z][a-zA-Z0-9]*$/;
      for (const [label, res] of bodies) {
        assert.ok(res.status < 500 || label === '500', `${label}: ${res.status}`);
        assert.ok(res.body !== undefined, `${label} has a JSON body`);
        const wrong = keysOf(res.body).filter(([key]) => !casing.test(key));
        assert.deepEqual(wrong, [], `${label}: ${res.text.slice(0, 300)}`);
      }
      const sessions = bodies.find(([label]) => label === 'sessions')?.[1];
      // The walk reached inside lists: a session's keys are there to be checked.
      const sessionKeys = keysOf(sessions?.body).map(([key]) => key);
      assert.ok(sessionKeys.includes(style === 'flat' ? 'last_used_at' : 'lastUsedAt'), sessionKeys.join(','));
      assert.ok(tokensOf(bodies[0]![1], style).access);
    });
  });
}
