import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createSigner } from 'fast-jwt';
import { TEST_SECRET, type TestServer, claimsOf, headerOf, startTestServer } from '../../server/test/support/server.ts';
import type {} from '../src/express.ts';
import { LatchkeyError, createVerifier } from '../src/index.ts';

const FEED_KEY = 'feed-key-for-tests-0123456789abcdef';

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Re-encodes a token with another header or payload, keeping its signature (a tampered token). */
function tamper(token: string, change: { header?: Record<string, unknown>; payload?: Record<string, unknown> }): string {
  const [h, p, s] = token.split('.');
  return [
    change.header ? b64({ ...headerOf(token), ...change.header }) : h,
    change.payload ? b64({ ...claimsOf(token), ...change.payload }) : p,
    s,
  ].join('.');
}

async function refused(promise: Promise<unknown>, what: string): Promise<LatchkeyError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof LatchkeyError, `${what}: not a LatchkeyError: ${String(error)}`);
    assert.equal(error.status, 401, what);
    assert.equal(error.code, 'UNAUTHORIZED', what);
    assert.equal(error.message, 'invalid or expired token', what);
    return error;
  }
  assert.fail(`${what}: was accepted`);
}

describe('createVerifier with a shared HS256 secret', () => {
  let server: TestServer;
  let access: string;
  let refresh: string;
  const verifier = () => createVerifier({ issuer: 'latchkey', audience: 'jobs-api', secret: TEST_SECRET });

  before(async () => {
    server = await startTestServer({ env: { LATCHKEY_AUDIENCE: 'jobs-api' } });
    await server.createUser('ada');
    ({ access, refresh } = await server.login('ada'));
  });
  after(() => server.close());

  test('a Latchkey access token resolves to the user, the session and the claims', async () => {
    const user = await server.core.users.findByUsername('ada');
    const result = await verifier().verify(access);
    assert.equal(result.id, user?.id);
    assert.equal(result.username, 'ada');
    assert.equal(result.role, 'STANDARD');
    assert.equal(result.sid, claimsOf(access).sid);
    assert.deepEqual(result.claims, claimsOf(access));
  });

  test('every forged or misused token is refused with a 401 LatchkeyError', async () => {
    const claims = claimsOf(access);
    const now = Math.floor(Date.now() / 1000);
    const kid = headerOf(access).kid;
    const sign = (payload: Record<string, unknown>, key = TEST_SECRET) => createSigner({ key, algorithm: 'HS256', kid })(payload);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const subject = { id: claims.user_id, username: 'ada', role: 'STANDARD' as const };
    const cases: Record<string, string> = {
      'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`,
      'alg none with a signature': tamper(access, { header: { alg: 'none' } }),
      'signed with another secret': sign(claims, 'another-secret-that-is-at-least-32-bytes!!'),
      'alg switched to RS256 (attacker key)': createSigner({ key: rsa, algorithm: 'RS256', kid })(claims),
      'alg switched in the header only': tamper(access, { header: { alg: 'HS512' } }),
      'payload tampered (role → ADMIN)': tamper(access, { payload: { role: 'ADMIN' } }),
      'a refresh token': refresh,
      'expired beyond the 30 s skew': server.core.tokens.issueAccess(subject, claims.sid, randomUUID(), Date.now() - 3600_000 - 31_000)
        .token,
      'wrong issuer': sign({ ...claims, iss: 'someone-else' }),
      'wrong audience': sign({ ...claims, aud: 'billing-api' }),
      'no audience': sign(Object.fromEntries(Object.entries(claims).filter(([k]) => k !== 'aud'))),
      'typ is not JWT': tamper(access, { header: { typ: 'at+jwt' } }),
      'user_id is a string': sign({ ...claims, user_id: String(claims.user_id) }),
      'unknown role': sign({ ...claims, role: 'ROOT' }),
      'not a JWT at all': 'not-a-jwt',
      empty: '',
    };
    const v = verifier();
    for (const [what, token] of Object.entries(cases)) await refused(v.verify(token), what);
    // Within the skew an expired token still passes: clocks drift (SPEC §3).
    const justExpired = server.core.tokens.issueAccess(subject, claims.sid, randomUUID(), Date.now() - 3600_000 - 10_000).token;
    assert.equal((await v.verify(justExpired)).username, 'ada');
  });

  test('a missing or short secret, or both secret and JWKS, are refused at creation', () => {
    assert.throws(() => createVerifier({ issuer: 'latchkey' }), /exactly one of secret and jwksUrl/);
    assert.throws(() => createVerifier({ issuer: 'latchkey', secret: TEST_SECRET, jwksUrl: 'http://127.0.0.1/jwks' }), /exactly one/);
    assert.throws(() => createVerifier({ issuer: 'latchkey', secret: 'short' }), /at least 32 bytes/);
  });
});

describe('createVerifier with a JWKS (ES256)', () => {
  let server: TestServer;
  let access: string;
  let jwksUrl: string;

  before(async () => {
    server = await startTestServer({ style: 'envelope', env: { LATCHKEY_JWT_ALG: 'ES256' } });
    await server.createUser('bea', { role: 'ADMIN' });
    ({ access } = await server.login('bea'));
    jwksUrl = `${server.url}/.well-known/jwks.json`;
  });
  after(() => server.close());

  test('a token signed with a published key verifies, the key fetched once and then cached', async () => {
    const fetches = async () =>
      (await server.core.metrics.httpRequests.get()).values
        .filter((v) => v.labels.route === '/.well-known/jwks.json')
        .reduce((n, v) => n + v.value, 0);
    const before = await fetches();
    const v = createVerifier({ issuer: 'latchkey', jwksUrl });
    assert.equal((await v.verify(access)).role, 'ADMIN');
    const second = await server.login('bea');
    assert.equal((await v.verify(second.access)).username, 'bea');
    assert.equal((await fetches()) - before, 1);
  });

  test('alg none, an HMAC made with the public key, an unknown kid and a tampered payload are refused', async () => {
    const v = createVerifier({ issuer: 'latchkey', jwksUrl });
    const claims = claimsOf(access);
    const { kid } = headerOf(access);
    const jwks = (await server.request('GET', '/.well-known/jwks.json')).body;
    const { createPublicKey } = await import('node:crypto');
    const publicPem = createPublicKey({ key: jwks.keys[0], format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString();
    const cases: Record<string, string> = {
      'alg none': `${b64({ alg: 'none', typ: 'JWT', kid })}.${b64(claims)}.`,
      // The classic key-confusion attack: the public key used as an HS256 secret.
      'HS256 signed with the public key': createSigner({ key: publicPem, algorithm: 'HS256', kid })(claims),
      'unknown kid': tamper(access, { header: { kid: 'no-such-key' } }),
      'no kid': tamper(access, { header: { kid: undefined } }),
      'payload tampered': tamper(access, { payload: { user_id: 1 } }),
    };
    for (const [what, token] of Object.entries(cases)) await refused(v.verify(token), what);
    assert.equal((await v.verify(access)).username, 'bea');
  });
});

describe('middleware', () => {
  let server: TestServer;
  let standard: string;
  let admin: string;
  let envelopeServer: TestServer;
  let envelopeStandard: string;

  before(async () => {
    server = await startTestServer();
    await server.createUser('ada');
    standard = (await server.login('ada')).access;
    admin = (await server.login('root', 'root-password-for-tests')).access;
    envelopeServer = await startTestServer({ style: 'envelope' });
    await envelopeServer.createUser('ada');
    envelopeStandard = (await envelopeServer.login('ada')).access;
  });
  after(async () => {
    await server.close();
    await envelopeServer.close();
  });

  /** Sends the four requests that tell the middleware's answers apart, against a base URL or a fetch-like. */
  async function exercise(
    send: (path: string, headers: Record<string, string>) => Promise<Response>,
    tokens: { standard: string; admin?: string },
  ) {
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const res = await send(path, headers);
      return { status: res.status, headers: res.headers, body: JSON.parse(await res.text()) };
    };
    return {
      none: await get('/jobs'),
      malformed: await get('/jobs', { authorization: 'Basic abc' }),
      bad: await get('/jobs', { authorization: 'Bearer not.a.token' }),
      ok: await get('/jobs', { authorization: `bearer ${tokens.standard}` }),
      forbidden: await get('/admin', { authorization: `Bearer ${tokens.standard}`, 'x-request-id': 'req-42' }),
      ...(tokens.admin ? { admin: await get('/admin', { authorization: `Bearer ${tokens.admin}` }) } : {}),
    };
  }

  function assertFlat(r: Awaited<ReturnType<typeof exercise>>) {
    assert.equal(r.none.status, 401);
    assert.deepEqual(r.none.body, { error: 'missing authorization header' });
    assert.equal(r.none.headers.get('www-authenticate'), 'Bearer');
    assert.match(r.none.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual([r.malformed.status, r.malformed.body], [401, { error: 'invalid authorization header format' }]);
    assert.deepEqual([r.bad.status, r.bad.body], [401, { error: 'invalid or expired token' }]);
    assert.equal(r.ok.status, 200);
    assert.equal(r.ok.body.username, 'ada');
    assert.equal(r.ok.body.role, 'STANDARD');
    assert.deepEqual(Object.keys(r.ok.body).sort(), ['id', 'role', 'username']);
    assert.deepEqual([r.forbidden.status, r.forbidden.body], [403, { error: 'forbidden' }]);
    assert.deepEqual([r.admin?.status, r.admin?.body.role], [200, 'ADMIN']);
  }

  test('fastifyAuth and requireRole answer 401/403 in the flat style and set request.user', async () => {
    const { default: Fastify } = await import('fastify');
    const { fastifyAuth, requireRole } = await import('../src/index.ts');
    const verifier = createVerifier({ issuer: 'latchkey', secret: TEST_SECRET });
    const app = Fastify();
    app.addHook('preHandler', fastifyAuth(verifier));
    app.get('/jobs', async (request) => (request as unknown as { user: unknown }).user);
    app.get('/admin', { preHandler: requireRole('ADMIN') }, async (request) => (request as unknown as { user: unknown }).user);
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      assertFlat(await exercise((path, headers) => fetch(base + path, { headers }), { standard, admin }));
    } finally {
      await app.close();
    }
  });

  test('expressAuth and requireRole answer 401/403 in the flat style and set req.user', async () => {
    const { default: express } = await import('express');
    const { expressAuth, requireRole } = await import('../src/index.ts');
    const verifier = createVerifier({ issuer: 'latchkey', secret: TEST_SECRET });
    const app = express();
    app.use(expressAuth(verifier));
    // req.user is typed by the shipped declaration (the import at the top): no cast.
    app.get('/jobs', (req, res) => void res.json(req.user));
    app.get('/admin', requireRole('ADMIN'), (req, res) => void res.json(req.user));
    const listener = await new Promise<import('node:http').Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const address = listener.address() as import('node:net').AddressInfo;
    try {
      assertFlat(await exercise((path, headers) => fetch(`http://127.0.0.1:${address.port}${path}`, { headers }), { standard, admin }));
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  test('honoAuth and requireRole answer in the envelope style when the verifier says so', async () => {
    const { Hono } = await import('hono');
    const { honoAuth, requireRole } = await import('../src/index.ts');
    const verifier = createVerifier({ issuer: 'latchkey', secret: TEST_SECRET, style: 'envelope' });
    const app = new Hono<{ Variables: { user: { id: number; username: string; role: 'ADMIN' | 'STANDARD' } } }>();
    app.use('*', honoAuth(verifier));
    app.get('/jobs', (c) => c.json(c.get('user')));
    app.get('/admin', requireRole('ADMIN'), (c) => c.json(c.get('user')));
    const r = await exercise((path, headers) => Promise.resolve(app.request(path, { headers })), { standard: envelopeStandard });
    assert.equal(r.none.status, 401);
    assert.equal(r.none.headers.get('www-authenticate'), 'Bearer');
    assert.deepEqual(r.none.body.error, { code: 'UNAUTHORIZED', message: 'Missing authorization header' });
    assert.equal(r.none.body.data, null);
    assert.match(r.none.body.meta.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(r.bad.body.error, { code: 'UNAUTHORIZED', message: 'Invalid or expired token' });
    assert.equal(r.ok.status, 200);
    assert.equal(r.ok.body.username, 'ada');
    assert.equal(r.forbidden.status, 403);
    assert.deepEqual(r.forbidden.body.error, { code: 'FORBIDDEN', message: 'Forbidden' });
    assert.equal(r.forbidden.body.meta.requestId, 'req-42');
  });
});

test('an unexpected error is a 500 INTERNAL_ERROR in either style, never a 503 SERVICE_UNAVAILABLE that invites a retry', async () => {
  const { renderError } = await import('../src/index.ts');
  const flat = renderError(new TypeError('a bug in a handler'), 'flat');
  assert.deepEqual([flat.status, flat.body, flat.headers['retry-after']], [500, { error: 'internal server error' }, undefined]);
  const envelope = renderError(new TypeError('a bug in a handler'), 'envelope', 'req-7');
  assert.equal(envelope.status, 500);
  assert.equal(envelope.headers['retry-after'], undefined);
  assert.deepEqual((envelope.body as { error: unknown }).error, { code: 'INTERNAL_ERROR', message: 'Internal server error' });
  assert.equal((envelope.body as { meta: { requestId: string } }).meta.requestId, 'req-7');
});
