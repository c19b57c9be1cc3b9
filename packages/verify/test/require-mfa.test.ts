import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TEST_SECRET, type TestServer, startTestServer } from '../../server/test/support/server.ts';
import { LatchkeyError, createVerifier } from '../src/index.ts';

describe('amr, auth_time and requireMfa()', () => {
  let server: TestServer;
  const tokens: Record<'password' | 'otp' | 'passkey' | 'oldOtp' | 'enrolment', string> = {
    password: '',
    otp: '',
    passkey: '',
    oldOtp: '',
    enrolment: '',
  };
  let signedInAt = 0;

  before(async () => {
    server = await startTestServer();
    const user = await server.createUser('ada');
    tokens.password = (await server.login('ada')).access;
    // Sessions as the second step and the passkey sign-in open them (SPEC §11).
    signedInAt = Date.now();
    const { sessions } = server.core;
    tokens.otp = (await sessions.start(user, {}, signedInAt, { proof: { amr: ['pwd', 'otp'] } })).accessToken;
    tokens.passkey = (await sessions.start(user, {}, signedInAt, { proof: { amr: ['hwk', 'user'] } })).accessToken;
    tokens.oldOtp = (
      await sessions.start(user, {}, signedInAt, { proof: { amr: ['pwd', 'otp'], authTime: signedInAt - 3600_000 } })
    ).accessToken;
    tokens.enrolment = (await sessions.start(user, {}, signedInAt, { proof: { amr: ['pwd'], scope: 'mfa_enrollment' } })).accessToken;
  });
  after(() => server.close());

  test('verify() exposes amr and auth_time, and refuses an enrolment-only token', async () => {
    const verifier = createVerifier({ issuer: 'latchkey', secret: TEST_SECRET });
    const password = await verifier.verify(tokens.password);
    assert.deepEqual(password.amr, ['pwd']);
    assert.equal(typeof password.authTime, 'number');
    const otp = await verifier.verify(tokens.otp);
    assert.deepEqual(otp.amr, ['pwd', 'otp']);
    assert.equal(otp.authTime, Math.floor(signedInAt / 1000));
    await assert.rejects(verifier.verify(tokens.enrolment), (error: unknown) => error instanceof LatchkeyError && error.status === 401);
  });

  /** GET /secure (requireMfa) and /recent (requireMfa with a 15-minute window) with each token. */
  async function exercise(send: (path: string, token?: string) => Promise<Response>) {
    const get = async (path: string, token?: string) => {
      const res = await send(path, token);
      return { status: res.status, body: JSON.parse(await res.text()) };
    };
    return {
      none: await get('/secure'),
      password: await get('/secure', tokens.password),
      otp: await get('/secure', tokens.otp),
      passkey: await get('/secure', tokens.passkey),
      oldOtp: await get('/secure', tokens.oldOtp),
      recentOld: await get('/recent', tokens.oldOtp),
      recentNew: await get('/recent', tokens.otp),
    };
  }

  function assertOutcomes(r: Awaited<ReturnType<typeof exercise>>, style: 'flat' | 'envelope') {
    assert.equal(r.none.status, 401);
    assert.equal(r.password.status, 403);
    if (style === 'flat') assert.deepEqual(r.password.body, { error: 'forbidden' });
    else assert.deepEqual(r.password.body.error, { code: 'FORBIDDEN', message: 'Forbidden' });
    assert.equal(r.otp.status, 200);
    assert.equal(r.otp.body.username, 'ada');
    assert.equal(r.passkey.status, 200);
    assert.equal(r.oldOtp.status, 200);
    assert.equal(r.recentOld.status, 403);
    assert.equal(r.recentNew.status, 200);
  }

  test('Fastify', async () => {
    const { default: Fastify } = await import('fastify');
    const { fastifyAuth, requireMfa } = await import('../src/index.ts');
    const verifier = createVerifier({ issuer: 'latchkey', secret: TEST_SECRET });
    const app = Fastify();
    app.addHook('preHandler', fastifyAuth(verifier));
    app.get('/secure', { preHandler: requireMfa() }, async (request) => (request as unknown as { user: unknown }).user);
    app.get(
      '/recent',
      { preHandler: requireMfa({ maxAgeSeconds: 900 }) },
      async (request) => (request as unknown as { user: unknown }).user,
    );
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      assertOutcomes(
        await exercise((path, token) => fetch(base + path, { headers: token ? { authorization: `Bearer ${token}` } : {} })),
        'flat',
      );
    } finally {
      await app.close();
    }
  });

  test('Express', async () => {
    const { default: express } = await import('express');
    const { expressAuth, requireMfa } = await import('../src/index.ts');
    const verifier = createVerifier({ issuer: 'latchkey', secret: TEST_SECRET });
    const app = express();
    app.use(expressAuth(verifier));
    app.get('/secure', requireMfa(), (req, res) => void res.json((req as unknown as { user: unknown }).user));
    app.get('/recent', requireMfa({ maxAgeSeconds: 900 }), (req, res) => void res.json((req as unknown as { user: unknown }).user));
    const listener = await new Promise<import('node:http').Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const address = listener.address() as import('node:net').AddressInfo;
    try {
      assertOutcomes(
        await exercise((path, token) =>
          fetch(`http://127.0.0.1:${address.port}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} }),
        ),
        'flat',
      );
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  test('Hono, in the envelope style', async () => {
    const { Hono } = await import('hono');
    const { honoAuth, requireMfa } = await import('../src/index.ts');
    const verifier = createVerifier({ issuer: 'latchkey', secret: TEST_SECRET, style: 'envelope' });
    const app = new Hono<{ Variables: { user: { id: number; username: string; role: 'ADMIN' | 'STANDARD' } } }>();
    app.use('*', honoAuth(verifier));
    app.get('/secure', requireMfa(), (c) => c.json(c.get('user')));
    app.get('/recent', requireMfa({ maxAgeSeconds: 900 }), (c) => c.json(c.get('user')));
    assertOutcomes(
      await exercise((path, token) => Promise.resolve(app.request(path, { headers: token ? { authorization: `Bearer ${token}` } : {} }))),
      'envelope',
    );
  });
});
