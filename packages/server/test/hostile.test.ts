import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { type HttpResult, PASSWORD, type Style, type TestServer, matrix, startTestServer, tokensOf } from './support/server.ts';
import { hashChallengeId } from '../src/mfa/challenges.ts';

const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Asserts that `res` is a 4xx error in the exact shape of the style: flat `{"error": "…"}`; envelope
 * `{"data": null, "error": {"code", "message", "details"?}, "meta": {"timestamp", "requestId"}}`.
 */
function assertClientError(res: HttpResult, style: Style, context = ''): void {
  const where = `${context} → ${res.status} ${res.text.slice(0, 300)}`;
  assert.ok(res.status >= 400 && res.status < 500, `expected a 4xx: ${where}`);
  assert.equal(res.headers.get('content-type'), JSON_TYPE, where);
  const requestId = res.headers.get('x-request-id');
  assert.match(requestId ?? '', /^[A-Za-z0-9._-]{1,128}$/, where);
  if (res.status === 401) assert.equal(res.headers.get('www-authenticate'), 'Bearer', where);
  if (style === 'flat') {
    assert.deepEqual(Object.keys(res.body ?? {}), ['error'], where);
    assert.equal(typeof res.body.error, 'string', where);
    assert.ok(res.body.error.length > 0, where);
    return;
  }
  assert.deepEqual(Object.keys(res.body ?? {}), ['data', 'error', 'meta'], where);
  assert.equal(res.body.data, null, where);
  const { code, message, details, ...rest } = res.body.error;
  assert.deepEqual(rest, {}, where);
  assert.match(code, /^[A-Z_]+$/, where);
  assert.equal(typeof message, 'string', where);
  if (details !== undefined) {
    assert.ok(Array.isArray(details) && details.length > 0, where);
    for (const d of details) {
      assert.deepEqual(Object.keys(d), ['field', 'message'], where);
      assert.equal(typeof d.field, 'string', where);
      assert.equal(typeof d.message, 'string', where);
    }
  }
  assert.deepEqual(Object.keys(res.body.meta), ['timestamp', 'requestId'], where);
  assert.match(res.body.meta.timestamp, ISO_SECONDS, where);
  assert.equal(res.body.meta.requestId, requestId, where);
}

/** Asserts the 400 of the contract, and in the envelope style the field at fault. */
function assertBadRequest(res: HttpResult, style: Style, field: string, context = ''): void {
  assertClientError(res, style, context);
  assert.equal(res.status, 400, context);
  if (style === 'flat') assert.deepEqual(res.body, { error: 'invalid request body' }, context);
  else {
    assert.equal(res.body.error.code, 'VALIDATION_ERROR', context);
    assert.equal(res.body.error.message, 'Invalid input', context);
    assert.equal(res.body.error.details[0].field, field, context);
  }
}

function assertBadCredentials(res: HttpResult, style: Style, context = ''): void {
  assertClientError(res, style, context);
  assert.equal(res.status, 401, context);
  if (style === 'flat') assert.deepEqual(res.body, { error: 'invalid username or password' }, context);
  else assert.deepEqual(res.body.error, { code: 'INVALID_CREDENTIALS', message: 'Invalid email or password' }, context);
}

function assertTooLarge(res: HttpResult, style: Style): void {
  assertClientError(res, style);
  assert.equal(res.status, 413);
  if (style === 'flat') assert.deepEqual(res.body, { error: 'invalid request body' });
  else {
    assert.deepEqual(res.body.error, {
      code: 'VALIDATION_ERROR',
      message: 'Invalid input',
      details: [{ field: 'body', message: 'request body is larger than 64 KiB' }],
    });
  }
}

/** A login body padded with an unknown field to exactly `bytes` bytes of JSON. */
function paddedLogin(bytes: number): string {
  const start = JSON.stringify({ username: 'ada', password: 'wrong password', pad: '' });
  return start.slice(0, -2) + 'x'.repeat(bytes - start.length) + '"}';
}

/** POSTs a body in chunks without a Content-Length, so only the streaming limit can stop it. */
function postChunked(url: string, chunks: string[]): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') headers.set(name, value);
          resolve({ status: res.statusCode ?? 0, headers, body: JSON.parse(text), text });
        });
      },
    );
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

// Characters that have broken auth servers: NUL, lone surrogates, bidi controls, a BOM, combining marks,
// quotes and backslashes, plus any code point at all (String.fromCodePoint makes lone surrogates too).
const oddUnit = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...'abcdefXYZ0189@._-+ ') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('\u0000', '\ud800', '\udfff', '\u202e', '\u200f', '\ufeff', '🦊', 'é', 'e\u0301', '"', '\\', '\n', '\u2028'),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x10ffff }).map((cp) => String.fromCodePoint(cp)) },
);
const oddString = fc.string({ unit: oddUnit, maxLength: 60 });
const anyValue = fc.oneof(oddString, fc.jsonValue({ maxDepth: 3 }));

/** A JSON object, an arbitrary JSON value, or arbitrary text, as the raw request body. */
function bodies(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.record(fields, { requiredKeys: [] }).map((body) => JSON.stringify(body)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value) ?? 'null') },
    { weight: 1, arbitrary: oddString },
  );
}

/** Fixed, so a failure reproduces; fast-check prints the counterexample and the path to it. */
const FUZZ = { seed: 0x1a7c4e7, numRuns: 200 } as const;

for (const { style, engine, name } of matrix()) {
  describe(`hostile input (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine });
      await server.createUser('ada', { email: 'ada@example.com' });
    });
    after(() => server.close());

    const login = (body: unknown) => server.request('POST', '/api/auth/login', { body });
    const loginRaw = (raw: string, contentType = 'application/json') =>
      server.request('POST', '/api/auth/login', { raw, headers: { 'content-type': contentType } });

    test('malformed JSON is a 400 naming the body', async () => {
      for (const raw of [
        '{',
        '{"username":"ada",}',
        "{'username':'ada','password':'x'}",
        'nul',
        '{"a":1}{"b":2}',
        '\u0000',
        '{"username":"ada" "password":"x"}',
        '\ufeff{"username":"ada"',
        '{"username":"\\x41"}',
      ]) {
        assertBadRequest(await loginRaw(raw), style, 'body', JSON.stringify(raw));
      }
      // Bytes that are not UTF-8 at all.
      const res = await fetch(server.url + '/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: Buffer.from([0x7b, 0xff, 0xfe, 0x22, 0xc3, 0x28, 0x7d]),
      });
      const text = await res.text();
      assertBadRequest({ status: res.status, headers: res.headers, body: JSON.parse(text), text }, style, 'body', 'invalid UTF-8');
      // A form body (not JSON) is refused the same way, whatever the content type says.
      assertBadRequest(await loginRaw('username=ada&password=x', 'application/x-www-form-urlencoded'), style, 'body', 'form body');
    });

    test('wrong types are a 400 naming the field; no value is coerced', async () => {
      const cases: [unknown, string][] = [
        [{ username: 12345, password: PASSWORD }, 'username'],
        [{ username: true, password: PASSWORD }, 'username'],
        [{ username: null, password: PASSWORD }, 'username'],
        [{ username: { $ne: null }, password: PASSWORD }, 'username'],
        [{ username: ['ada'], password: PASSWORD }, 'username'],
        [{ email: 42, password: PASSWORD }, 'email'],
        [{ username: 'ada', password: 12345678 }, 'password'],
        [{ username: 'ada', password: null }, 'password'],
        [{ username: 'ada', password: { $gt: '' } }, 'password'],
        [{ username: 'ada', password: [PASSWORD] }, 'password'],
        [{ username: 'ada', password: true }, 'password'],
        [null, 'body'],
        [42, 'body'],
        ['ada', 'body'],
        [[{ username: 'ada', password: PASSWORD }], 'body'],
      ];
      for (const [body, field] of cases) assertBadRequest(await login(body), style, field, JSON.stringify(body));
      for (const [body, field] of [
        [{ refresh_token: 123 }, 'refreshToken'],
        [{ refreshToken: null }, 'refreshToken'],
        [{ refresh_token: ['a.b.c'] }, 'refreshToken'],
        [{ refresh_token: '' }, 'refreshToken'],
        [{ refresh_token: 'x'.repeat(8193) }, 'refreshToken'],
        [[], 'body'],
        ['a.b.c', 'body'],
      ] as const) {
        // The envelope names fields in camelCase, whichever name the body used.
        assertBadRequest(await server.request('POST', '/api/auth/refresh', { body }), style, field, JSON.stringify(body).slice(0, 80));
      }
    });

    test('a body over 64 KiB is a 413, with or without a Content-Length; 64 KiB exactly is read', async () => {
      assert.equal(Buffer.byteLength(paddedLogin(65_536)), 65_536);
      assertBadCredentials(await loginRaw(paddedLogin(65_536)), style, 'exactly 64 KiB');
      assertTooLarge(await loginRaw(paddedLogin(65_537)), style);
      assertTooLarge(await loginRaw(paddedLogin(1_000_000)), style);
      const chunks = ['{"username":"ada","password":"', ...Array.from({ length: 20 }, () => 'x'.repeat(4096)), '"}'];
      assertTooLarge(await postChunked(server.url + '/api/auth/login', chunks), style);
      assertTooLarge(await server.request('POST', '/api/auth/refresh', { body: { refresh_token: 'x'.repeat(70_000) } }), style);
    });

    test('10,000 levels of nesting inside 64 KiB are a 400 (or ignored in an unknown field), never a crash', async () => {
      const depth = 10_000;
      const nestedObject = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
      const nestedArray = '['.repeat(depth) + ']'.repeat(depth);
      assert.ok(Buffer.byteLength(`{"username":${nestedObject},"password":"x"}`) < 65_536);
      assertBadRequest(await loginRaw(`{"username":${nestedObject},"password":"x"}`), style, 'username');
      assertBadRequest(await loginRaw(`{"username":"ada","password":${nestedArray}}`), style, 'password');
      assertBadRequest(await loginRaw(nestedArray), style, 'body');
      assertBadRequest(await loginRaw(nestedObject), style, 'username');
      assertBadCredentials(
        await loginRaw(`{"username":"ada","password":"wrong password","extra":${nestedArray}}`),
        style,
        'nested unknown field',
      );
      const refresh = await server.request('POST', '/api/auth/refresh', {
        raw: `{"refresh_token":${nestedObject}}`,
        headers: { 'content-type': 'application/json' },
      });
      assertBadRequest(refresh, style, 'refreshToken');
    });

    test('__proto__ and constructor.prototype keys are refused and pollute nothing', async () => {
      for (const raw of [
        `{"username":"ada","password":"${PASSWORD}","__proto__":{"role":"ADMIN","polluted":true}}`,
        `{"__proto__":{"password":"x"},"username":"ada"}`,
        `{"username":"ada","password":"${PASSWORD}","constructor":{"prototype":{"polluted":true}}}`,
        `{"username":"ada","password":"${PASSWORD}","extra":{"nested":[{"__proto__":{"polluted":true}}]}}`,
      ]) {
        assertBadRequest(await loginRaw(raw), style, 'body', raw);
      }
      assertBadRequest(
        await server.request('POST', '/api/auth/refresh', {
          raw: '{"refresh_token":"a.b.c","__proto__":{"polluted":true}}',
          headers: { 'content-type': 'application/json' },
        }),
        style,
        'body',
      );
      // The server runs in this process: nothing reached Object.prototype.
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(({} as Record<string, unknown>).role, undefined);
      // A key merely named "constructor" is just an unknown field.
      assert.equal((await loginRaw(`{"username":"ada","password":"${PASSWORD}","constructor":{"name":"x"}}`)).status, 200);
    });

    test('NUL in the identifier is a 400; NUL, lone surrogates and bidi marks elsewhere are a plain 401', async () => {
      assertBadRequest(await login({ username: 'ad\u0000a', password: PASSWORD }), style, 'username');
      assertBadRequest(await login({ email: 'ada@example.com\u0000', password: PASSWORD }), style, 'email');
      for (const body of [
        { username: 'ada', password: `${PASSWORD}\u0000` },
        { username: 'ada', password: '\u0000' },
        { username: 'ada', password: '\ud800' },
        { username: '\udfffada', password: PASSWORD },
        { username: 'ada\u202e', password: PASSWORD },
        { username: '\u200fada', password: PASSWORD },
        { username: '\ufeffada', password: PASSWORD },
        { username: 'a\u0301da', password: PASSWORD },
        { username: '🦊🦊🦊', password: '🦊' },
      ]) {
        assertBadCredentials(await login(body), style, JSON.stringify(body));
      }
    });

    test('an account with emoji, accents and bidi marks logs in exactly as typed', async () => {
      // Bidirectional controls are refused in usernames (issue 10 #15: one name could pass for another);
      // passwords keep them, exactly as typed.
      await assert.rejects(server.createUser('Zoë🦊\u200fמיכל'), /invisible or bidirectional-control/);
      const username = 'Zoë🦊מיכל';
      const password = 'pässwörd 🔑 \u202e סוד';
      await server.createUser(username, { password });
      assert.equal((await login({ username, password })).status, 200);
      // Usernames compare case-insensitively after NFKC normalisation: a decomposed ë finds the account…
      assert.equal((await login({ username: username.normalize('NFD').toUpperCase(), password })).status, 200);
      // …but the password is never normalised.
      assertBadCredentials(await login({ username, password: password.normalize('NFD') }), style, 'NFD password');
      assertBadCredentials(await login({ username, password: password.replace('\u202e', '') }), style, 'bidi mark dropped');
    });

    test('identifier and password lengths count characters: 254 and 1024 are read, 255 and 1025 are a 400', async () => {
      assertBadCredentials(await login({ username: '🦊'.repeat(254), password: PASSWORD }), style, '254 emoji');
      assertBadRequest(await login({ username: '🦊'.repeat(255), password: PASSWORD }), style, 'username');
      assertBadCredentials(await login({ username: 'ada', password: 'x'.repeat(1024) }), style, '1024');
      assertBadCredentials(await login({ username: 'ada', password: '🔑'.repeat(1024) }), style, '1024 emoji');
      assertBadRequest(await login({ username: 'ada', password: 'x'.repeat(1025) }), style, 'password');
      assertBadRequest(await login({ username: 'ada', password: '🔑'.repeat(1025) }), style, 'password');
    });

    test('unknown fields are ignored', async () => {
      assert.equal(
        (await login({ username: 'ada', password: PASSWORD, remember_me: true, device: { name: 'x', tags: [1, 2] } })).status,
        200,
      );
      assert.equal((await login({ email: 'ada@example.com', password: PASSWORD, role: 'ADMIN', Username: 'root' })).status, 200);
      const { refresh } = await server.login('ada');
      const rotated = await server.request('POST', '/api/auth/refresh', {
        body: { refresh_token: refresh, refreshToken: refresh, scope: 'admin', extra: null },
      });
      assert.equal(rotated.status, 200);
      // Asking for a role in the body changes nothing.
      const verify = await server.request('GET', '/api/auth/verify', { token: tokensOf(rotated, style).access });
      assert.equal(style === 'flat' ? verify.body.role : verify.body.data.role, 'STANDARD');
    });

    test('a URL that does not decode, or an over-long path parameter, is a 400 in the style, not a framework body', async () => {
      const { access } = await server.login('ada');
      for (const [method, path] of [
        ['GET', '/api/auth/%zz'],
        ['GET', '/%'],
        ['DELETE', `/api/auth/sessions/${'s'.repeat(200)}`],
        ['DELETE', '/api/auth/sessions/%E0%A4%A'],
      ] as const) {
        const res = await server.request(method, path, { token: access });
        assertBadRequest(res, style, 'url', `${method} ${path.slice(0, 40)}`);
      }
    });

    test('a NUL byte (or any character base64url has not) in a session or passkey id, or in a credential id, is a 400', async () => {
      const { access } = await server.login('ada');
      for (const [method, path, body] of [
        ['DELETE', '/api/auth/sessions/%00', undefined],
        ['DELETE', '/api/auth/sessions/a%20b', undefined],
        ['DELETE', '/api/auth/passkeys/%00', undefined],
        ['PATCH', '/api/auth/passkeys/%00', { name: 'x' }],
      ] as const) {
        const res = await server.request(method, path, { token: access, ...(body === undefined ? {} : { body }) });
        assertBadRequest(res, style, 'id', `${method} ${path}`);
      }
      // Unauthenticated, and after a challenge was issued: refused before the challenge is spent.
      const options = await server.request('POST', '/api/auth/passkeys/login/options', { body: {} });
      const challenge = style === 'flat' ? options.body.challenge_id : options.body.data.challengeId;
      for (const id of ['\u0000', 'a\u0000b', 'not base64url!']) {
        const credential = { id, rawId: 'AA', type: 'public-key', response: {} };
        const res = await server.request('POST', '/api/auth/passkeys/login', { body: { challenge_id: challenge, credential } });
        assertBadRequest(res, style, 'credential.id', JSON.stringify(id));
      }
      const row = await server.core.store.db
        .selectFrom('mfa_challenges')
        .select('spent_at')
        .where('id_hash', '=', hashChallengeId(challenge))
        .executeTakeFirstOrThrow();
      assert.equal(row.spent_at, null);
    });

    test(`a seeded fuzz of login bodies gets only 4xx answers in the style's shape (seed ${FUZZ.seed})`, async () => {
      const identifier = fc.oneof(oddString, fc.constantFrom('ada', 'ADA', 'ada@example.com', 'root'), anyValue);
      const password = fc.oneof(oddString, fc.constantFrom('', 'x'.repeat(1025), PASSWORD + ' '), anyValue);
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(bodies({ username: identifier, email: identifier, password, extra: anyValue }), async (raw) => {
          const res = await loginRaw(raw);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          assertClientError(res, style, raw.slice(0, 200));
        }),
        FUZZ,
      );
      // The fuzz reached past validation (401) as well as being stopped by it (400).
      assert.ok((statuses.get(400) ?? 0) > 0 && (statuses.get(401) ?? 0) > 0, JSON.stringify([...statuses]));
      assert.equal((await login({ username: 'ada', password: PASSWORD })).status, 200);
    });

    test(`a seeded fuzz of refresh bodies gets only 4xx answers in the style's shape (seed ${FUZZ.seed})`, async () => {
      const { refresh } = await server.login('ada');
      const [header = '', payload = '', signature = ''] = refresh.split('.');
      // Change one character inside the payload (never its last one, whose low bits may not count).
      const tampered = fc
        .tuple(fc.integer({ min: 0, max: payload.length - 2 }), fc.constantFrom(...'ABCXYZabcxyz0189-_'))
        .filter(([at, c]) => payload[at] !== c)
        .map(([at, c]) => [header, payload.slice(0, at) + c + payload.slice(at + 1), signature].join('.'));
      const jwtLike = fc
        .array(fc.string({ unit: fc.constantFrom(...'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9_-'), maxLength: 40 }), {
          minLength: 1,
          maxLength: 5,
        })
        .map((parts) => parts.join('.'));
      const token = fc.oneof(tampered, jwtLike, oddString, anyValue);
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(bodies({ refresh_token: token, refreshToken: token, extra: anyValue }), async (raw) => {
          const res = await server.request('POST', '/api/auth/refresh', { raw, headers: { 'content-type': 'application/json' } });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          assertClientError(res, style, raw.slice(0, 200));
        }),
        FUZZ,
      );
      assert.ok((statuses.get(400) ?? 0) > 0 && (statuses.get(401) ?? 0) > 0, JSON.stringify([...statuses]));
      // The server keeps serving, and the untouched refresh token was never spent by a forgery.
      const rotated = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: refresh } });
      assert.equal(rotated.status, 200);
      assert.equal((await login({ username: 'ada', password: PASSWORD })).status, 200);
    });
  });
}

describe('bytes that are not HTTP', () => {
  for (const style of ['flat', 'envelope'] as const) {
    test(`a malformed request or oversized headers get JSON in the ${style} style, and the server keeps serving`, async () => {
      const { connect } = await import('node:net');
      const server = await startTestServer({ style });
      try {
        const port = Number(new URL(server.url).port);
        const send = (raw: string) =>
          new Promise<string>((resolve, reject) => {
            const socket = connect(port, '127.0.0.1', () => socket.write(raw));
            let answer = '';
            socket.on('data', (chunk) => (answer += chunk.toString()));
            socket.on('end', () => resolve(answer));
            socket.on('error', reject);
          });
        const cases = [
          { raw: 'GET /healthz HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n', status: 400 },
          { raw: `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, status: 431 },
        ];
        for (const c of cases) {
          const answer = await send(c.raw);
          const [head = '', body = ''] = answer.split('\r\n\r\n');
          assert.match(head, new RegExp(`^HTTP/1.1 ${c.status} `));
          assert.match(head, /Content-Type: application\/json; charset=utf-8/);
          const parsed = JSON.parse(body);
          if (style === 'flat') assert.deepEqual(parsed, { error: 'invalid request body' });
          else {
            assert.equal(parsed.error.code, 'VALIDATION_ERROR');
            assert.equal(parsed.data, null);
          }
        }
        assert.equal((await server.request('GET', '/healthz')).status, 200);
      } finally {
        await server.close();
      }
    });
  }
});
