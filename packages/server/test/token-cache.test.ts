/**
 * The verified-access-token cache in TokenService answers exactly what a fresh verification answers:
 * a cached token stops being accepted at its `exp` plus the 30 s clock skew, and a key ring without
 * its key refuses it at once.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeyRing } from '../src/auth/keys.ts';
import { TokenService } from '../src/auth/tokens.ts';
import { parseConfig } from '../src/config.ts';
import { type Core, openCore } from '../src/core.ts';
import { InvalidAccessToken } from '../src/errors.ts';

const SUBJECT = { id: 7, username: 'ada', role: 'STANDARD' } as const;

async function core(env: Record<string, string> = {}): Promise<Core> {
  return openCore(parseConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', ...env }), { background: false });
}

describe('verified access token cache', () => {
  test('a cached token is accepted until exp plus the skew, then refused, like an uncached one', async (t) => {
    const c = await core({ LATCHKEY_ACCESS_TTL: '90s' });
    t.after(() => c.close());
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const { token, exp } = c.tokens.issueAccess(SUBJECT, 'sid-1', 'jti-1');
    assert.equal(c.tokens.verifyAccess(token).user_id, 7); // now cached

    // A service with no cache of its own, over the same keys: the reference answer.
    const fresh = () => new TokenService(c.config, c.tokens.keyRing);

    t.mock.timers.setTime(exp * 1000 + 29_000);
    assert.equal(c.tokens.verifyAccess(token).sid, 'sid-1');
    assert.equal(fresh().verifyAccess(token).sid, 'sid-1');

    t.mock.timers.setTime(exp * 1000 + 31_000);
    assert.throws(() => c.tokens.verifyAccess(token), InvalidAccessToken);
    assert.throws(() => fresh().verifyAccess(token), InvalidAccessToken);
  });

  test('a cached token of a key that left the ring is refused', async (t) => {
    const a = await core();
    const b = await core();
    t.after(() => Promise.all([a.close(), b.close()]));
    const { token } = a.tokens.issueAccess(SUBJECT, 'sid-2', 'jti-2');
    assert.equal(a.tokens.verifyAccess(token).username, 'ada'); // now cached
    // b's database holds another key: a ring loaded from it does not know the token's kid.
    a.tokens.useKeyRing(await KeyRing.load(b.store.db, b.config));
    assert.throws(
      () => a.tokens.verifyAccess(token),
      (error: unknown) => error instanceof InvalidAccessToken && /unknown key/.test(error.message),
    );
  });

  test('a refresh token is never accepted as an access token, cached or not', async (t) => {
    const c = await core();
    t.after(() => c.close());
    const refresh = c.tokens.issueRefresh(SUBJECT, 'sid-3', 'jti-3', Math.floor(Date.now() / 1000), Math.floor(Date.now() / 1000) + 3600);
    assert.throws(() => c.tokens.verifyAccess(refresh), InvalidAccessToken);
    assert.throws(() => c.tokens.verifyAccess(refresh), InvalidAccessToken);
  });
});
