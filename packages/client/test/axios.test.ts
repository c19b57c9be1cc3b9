/**
 * `attachAxios` with a real axios instance against a real Latchkey, in both styles: a 401 about the access token
 * refreshes once and retries; a 401 about something the user typed (a wrong TOTP code) is the answer, spends no
 * refresh and keeps the session, as with the client's own fetch.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import axios, { AxiosError } from 'axios';
import { PASSWORD, type TestServer, startTestServer } from '../../server/test/support/server.ts';
import { totpCode } from '../../server/test/support/totp.ts';
import { attachAxios, createAuthClient, memoryStorage } from '../src/index.ts';
import { SESSION_KEY } from '../src/storage.ts';

for (const style of ['flat', 'envelope'] as const) {
  describe(`attachAxios (${style} style)`, () => {
    let server: TestServer;
    const refreshes: string[] = [];
    /** The real fetch, counting the refreshes the client makes. */
    const counting: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      if (new URL(request.url).pathname === '/api/auth/refresh') refreshes.push(request.url);
      return fetch(request);
    };

    before(async () => {
      server = await startTestServer({ style });
    });
    after(() => server.close());

    /** A signed-in client (its storage at hand) and an axios instance with the interceptors. */
    async function signedIn(username: string) {
      await server.createUser(username);
      const storage = memoryStorage();
      const auth = createAuthClient({ baseUrl: server.url, style, storage, fetch: counting });
      const result = await auth.login({ username, password: PASSWORD });
      assert.ok(!result.mfaRequired && !result.mfaEnrollmentRequired);
      const api = axios.create({ baseURL: server.url });
      attachAxios(api, auth);
      return { auth, api, storage };
    }

    test('a wrong TOTP code is a 401 the caller gets: no refresh, the session kept', async () => {
      const { auth, api } = await signedIn(`axios-code-${style}`);
      const { secret } = await auth.totp.enroll(PASSWORD);
      await auth.totp.confirm(totpCode(secret));
      const before = auth.session();
      const spent = refreshes.length;
      const valid = new Set([-1, 0, 1].map((d) => totpCode(secret, d)));
      const wrong = ['111111', '222222', '333333', '444444'].find((c) => !valid.has(c)) ?? '';

      const refused = await api.post('/api/auth/mfa/recovery-codes', { code: wrong }).then(
        () => assert.fail('a wrong code was accepted'),
        (error: unknown) => error,
      );
      assert.ok(refused instanceof AxiosError);
      assert.equal(refused.response?.status, 401);
      assert.equal(refreshes.length, spent, 'no refresh was spent');
      assert.deepEqual(auth.session(), before);
      assert.equal((await api.get('/api/auth/me')).status, 200);
    });

    test('a refused access token is refreshed once and the request retried', async () => {
      const { auth, api, storage } = await signedIn(`axios-token-${style}`);
      const spent = refreshes.length;
      // The stored access token becomes one the server refuses (as a revoked key's would be); the refresh token stays good.
      const stored = JSON.parse(storage.get(SESSION_KEY) ?? '{}') as Record<string, unknown>;
      storage.set(SESSION_KEY, JSON.stringify({ ...stored, accessToken: 'not-a-token' }));
      const token = await auth.getAccessToken();
      assert.equal(token, 'not-a-token');
      const me = await api.get('/api/auth/me');
      assert.equal(me.status, 200);
      assert.equal(refreshes.length, spent + 1, 'one refresh');
      assert.notEqual(await auth.getAccessToken(), token);
    });
  });
}
