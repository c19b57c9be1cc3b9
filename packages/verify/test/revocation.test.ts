import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TEST_SECRET, type TestServer, startTestServer } from '../../server/test/support/server.ts';
import { LatchkeyError, type Verifier, type VerifierOptions, createVerifier } from '../src/index.ts';
import { CuttableProxy, waitFor } from './support/proxy.ts';

const FEED_KEY = 'feed-key-for-tests-0123456789abcdef';

describe('instant revocation through the revocation feed', () => {
  let server: TestServer;
  let proxy: CuttableProxy;
  const verifiers: Verifier[] = [];

  /** A verifier subscribed to the feed through the proxy, reconnecting quickly. */
  function subscribed(options: Partial<VerifierOptions> = {}): Verifier {
    const v = createVerifier({
      issuer: 'latchkey',
      secret: TEST_SECRET,
      revocationFeedUrl: `${proxy.url}/api/auth/revocations`,
      revocationFeedKey: FEED_KEY,
      feedBackoffMs: { min: 50, max: 200 },
      ...options,
    });
    verifiers.push(v);
    return v;
  }

  async function rejection(promise: Promise<unknown>): Promise<LatchkeyError> {
    const error = await promise.then(
      () => assert.fail('the token was accepted'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof LatchkeyError, String(error));
    return error;
  }

  before(async () => {
    server = await startTestServer({ env: { LATCHKEY_REVOCATION_FEED_KEY: FEED_KEY } });
    await server.createUser('ada');
    proxy = await CuttableProxy.start(server.url);
  });
  after(async () => {
    for (const v of verifiers) v.close();
    await proxy.cut();
    await server.close();
  });

  test('a logout is honoured by the verifier within a second, without a call per request', async () => {
    const v = subscribed();
    const { access } = await server.login('ada');
    assert.equal((await v.verify(access)).username, 'ada');
    assert.equal(v.feedStatus, 'connected');
    const out = await server.request('POST', '/api/auth/logout', { token: access });
    assert.equal(out.status, 204);
    // SPEC: refused within one second of the logout.
    await waitFor(
      'the revocation to arrive',
      async () =>
        !(await v.verify(access).then(
          () => true,
          () => false,
        )),
      1000,
    );
    const error = await rejection(v.verify(access));
    assert.deepEqual([error.status, error.code, error.reason], [401, 'UNAUTHORIZED', 'session revoked']);
    // Another session of the same user is unaffected.
    const other = await server.login('ada');
    assert.equal((await v.verify(other.access)).username, 'ada');
  });

  test('a late subscriber first receives the revocations still relevant', async () => {
    const { access } = await server.login('ada');
    await server.request('POST', '/api/auth/logout', { token: access });
    const late = subscribed();
    const error = await rejection(late.verify(access));
    assert.equal(error.reason, 'session revoked');
  });

  test('while the feed is down a fail-closed verifier refuses every token with a 503, a fail-open one accepts them; after reconnecting both catch up', async () => {
    const closed = subscribed();
    const open = subscribed({ onFeedDown: 'open' });
    const { access } = await server.login('ada');
    const survivor = await server.login('ada');
    assert.equal((await closed.verify(access)).username, 'ada');
    assert.equal((await open.verify(access)).username, 'ada');

    await proxy.cut();
    await waitFor('both feeds to notice', () => closed.feedStatus === 'down' && open.feedStatus === 'down');
    const down = await rejection(closed.verify(access));
    assert.deepEqual([down.status, down.code, down.message], [503, 'SERVICE_UNAVAILABLE', 'revocation feed unavailable']);
    assert.equal((await open.verify(access)).username, 'ada');

    // Revoked while the verifiers cannot hear about it …
    await server.request('POST', '/api/auth/logout', { token: access });
    assert.equal((await open.verify(access)).username, 'ada');

    // … and learnt as soon as they are back.
    await proxy.restore();
    await waitFor('both feeds to reconnect', () => closed.feedStatus === 'connected' && open.feedStatus === 'connected');
    for (const v of [closed, open]) {
      assert.equal((await rejection(v.verify(access))).reason, 'session revoked');
      assert.equal((await v.verify(survivor.access)).username, 'ada');
    }
  });

  test('a verifier that presents the wrong feed key is never in sync, and fails closed', async () => {
    const v = subscribed({ revocationFeedKey: 'wrong-key' });
    const { access } = await server.login('ada');
    const error = await rejection(v.verify(access));
    assert.equal(error.status, 503);
    assert.equal(v.feedStatus, 'down');
  });
});
