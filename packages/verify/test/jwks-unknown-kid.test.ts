// Tokens with a made-up `kid` need no valid signature, only a well-formed header: anyone can send them. They
// must not keep a verifier from loading Latchkey's real keys (right after it starts, or after a rotation), nor
// make it fetch the JWKS every second. Real Latchkey, real HTTP.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type TestServer, headerOf, startTestServer } from '../../server/test/support/server.ts';
import { waitUntil } from '../../server/test/support/wait.ts';
import { LatchkeyError, type Verifier, createVerifier } from '../src/index.ts';

const ROOT_PASSWORD = 'root-password-for-tests';

/** Keys kept in the database rather than a fixed HS256 secret: published in the JWKS, and rotatable. */
const ASYMMETRIC_ENV = {
  LATCHKEY_JWT_ALG: 'EdDSA',
  LATCHKEY_JWT_SECRET: '',
  LATCHKEY_KEY_ENCRYPTION_SECRET: 'a key-encryption secret for the tests',
};

/** The verifier's own pace for Latchkey (JWKS_REFETCH_MS, ABSENT_KID_MS in src/verifier.ts). */
const REFETCH_MS = 1000;
const ABSENT_KID_MS = 5000;

/** A real token under a header naming a key Latchkey never had: what an attacker can make without any key. */
function withForgedKid(token: string): string {
  const [, payload, signature] = token.split('.');
  const header = Buffer.from(JSON.stringify({ ...headerOf(token), kid: 'forged-kid' })).toString('base64url');
  return [header, payload, signature].join('.');
}

async function refusedAsUnknownKey(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => assert.fail('a token with a forged kid was accepted'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof LatchkeyError, String(error));
  assert.equal(error.status, 401);
  assert.equal(error.reason, 'unknown key');
}

/** Sends `forged` to `verifier` every ~200 ms until stopped, checking that each is refused. */
function forgedKidStream(verifier: Verifier, forged: string): { readonly sent: number; stop(): Promise<void> } {
  let running = true;
  let sent = 0;
  const done = (async () => {
    while (running) {
      await refusedAsUnknownKey(verifier.verify(forged));
      sent += 1;
      await sleep(200);
    }
  })();
  // A failed check surfaces from stop(), in the test that started the stream.
  done.catch(() => {});
  return {
    get sent() {
      return sent;
    },
    async stop() {
      running = false;
      await done;
    },
  };
}

/**
 * Five rounds, ~200 ms apart, in each of which the attacker's token is sent just before the real one (in the
 * same tick, so before any fetch either causes has answered): the real one must verify every time.
 */
async function verifiesBesideForgedKids(verifier: Verifier, real: string, forged: string): Promise<void> {
  for (let round = 0; round < 5; round += 1) {
    const [attack, user] = await Promise.allSettled([verifier.verify(forged), verifier.verify(real)]);
    assert.equal(attack.status, 'rejected');
    assert.ok(user.status === 'fulfilled', `round ${round}: the real token was refused: ${user.status === 'rejected' ? user.reason : ''}`);
    assert.equal(user.value.username, 'root');
    await sleep(200);
  }
}

describe('a verifier under a stream of tokens with a forged kid', () => {
  let server: TestServer;
  let jwksUrl: string;
  const verifiers: Verifier[] = [];
  const fresh = (): Verifier => {
    const v = createVerifier({ issuer: 'latchkey', jwksUrl });
    verifiers.push(v);
    return v;
  };
  const jwksFetches = async (): Promise<number> =>
    (await server.core.metrics.httpRequests.get()).values
      .filter((v) => v.labels.route === '/.well-known/jwks.json')
      .reduce((n, v) => n + v.value, 0);

  before(async () => {
    server = await startTestServer({ env: ASYMMETRIC_ENV });
    jwksUrl = `${server.url}/.well-known/jwks.json`;
  });
  after(async () => {
    for (const v of verifiers) v.close();
    await server.close();
  });

  test('right after the verifier starts, a real token verifies though forged kids arrived first', async () => {
    const { access } = await server.login('root', ROOT_PASSWORD);
    const forged = withForgedKid(access);
    const verifier = fresh();
    const stream = forgedKidStream(verifier, forged);
    try {
      await verifiesBesideForgedKids(verifier, access, forged);
    } finally {
      await stream.stop();
    }
  });

  test('a key rotated in after the verifier started verifies though forged kids keep arriving', async () => {
    const before = await server.login('root', ROOT_PASSWORD);
    const forged = withForgedKid(before.access);
    const verifier = fresh();
    assert.equal((await verifier.verify(before.access)).username, 'root');
    const stream = forgedKidStream(verifier, forged);
    try {
      await waitUntil('the forged kids are flowing', () => stream.sent >= 2);
      // A compromised key: the new one signs at once, unknown to the verifier until it fetches the JWKS again.
      const rotation = await server.request('POST', '/api/admin/keys/rotate', { token: before.access, body: { now: true } });
      assert.equal(rotation.status, 200, rotation.text);
      const after = await server.login('root', ROOT_PASSWORD);
      assert.equal(headerOf(after.access).kid, rotation.body.kid);
      assert.notEqual(headerOf(after.access).kid, headerOf(before.access).kid);
      // A set fetched in the second before the rotation is the answer for that second (Latchkey is asked at most
      // once a second). Waiting it out is a lower bound, not a budget: a slow machine only waits longer.
      await sleep(REFETCH_MS + 100);
      await verifiesBesideForgedKids(verifier, after.access, forged);
    } finally {
      await stream.stop();
    }
  });

  test('a flood of one forged kid costs Latchkey one JWKS fetch per 5 s, not one a second', async () => {
    const { access } = await server.login('root', ROOT_PASSWORD);
    const verifier = fresh();
    const fetchesBefore = await jwksFetches();
    const started = Date.now();
    const stream = forgedKidStream(verifier, withForgedKid(access));
    try {
      // Past two refetch intervals: a verifier that asked again every second would have fetched three times.
      await waitUntil('the forged kids flowed for 2.5 s', () => Date.now() - started >= 2.5 * REFETCH_MS && stream.sent >= 10);
    } finally {
      await stream.stop();
    }
    const elapsed = Date.now() - started;
    const fetches = (await jwksFetches()) - fetchesBefore;
    // One for the first forged token, then one per ABSENT_KID_MS at most (a slow machine gets more time, so more).
    assert.ok(fetches >= 1 && fetches <= 1 + Math.floor(elapsed / ABSENT_KID_MS), `${fetches} JWKS fetches in ${elapsed} ms`);
    // The real key is still one fetch away at most, and found.
    assert.equal((await verifier.verify(access)).username, 'root');
  });
});
