import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PASSWORD, type TestServer, claimsOf, startTestServer } from '../../server/test/support/server.ts';
import { waitUntil } from '../../server/test/support/wait.ts';
import { type AuthClient, type AuthClientOptions, type AuthEvent, LatchkeyError, createAuthClient, memoryStorage } from '../src/index.ts';

/**
 * The real fetch, recording what the client sends, with an optional cookie jar: Node's fetch keeps no
 * cookies, a browser does. Minimal: one server, every cookie sent back, removal on Max-Age=0.
 */
function recordingFetch(jar?: Map<string, string>) {
  const calls: { path: string; method: string; body: string; authorization: string | null; cookie: string | null }[] = [];
  const instrumented: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const headers = new Headers(request.headers);
    if (jar && jar.size > 0) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const body = request.body === null ? '' : await request.text();
    calls.push({
      path: new URL(request.url).pathname,
      method: request.method,
      body,
      authorization: headers.get('authorization'),
      cookie: headers.get('cookie'),
    });
    const response = await fetch(request.url, { method: request.method, headers, ...(body === '' ? {} : { body }) });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      if (value === '' || /max-age=0/i.test(cookie)) jar?.delete(name);
      else jar?.set(name, value);
    }
    return response;
  };
  return { fetch: instrumented, calls, refreshes: () => calls.filter((c) => c.path === '/api/auth/refresh') };
}

/**
 * A fetch that lets the refresh reach the server but holds its answer back until the test calls
 * `release()`: `answered` resolves once the server has rotated the tokens. Deterministic, no timers.
 */
function holdingRefresh(inner: typeof fetch) {
  let answered!: () => void;
  let release!: () => void;
  const answer = new Promise<void>((resolve) => (answered = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  const instrumented: typeof fetch = async (input, init) => {
    const response = await inner(input, init);
    if (new URL(new Request(input, init).url).pathname === '/api/auth/refresh') {
      answered();
      await released;
    }
    return response;
  };
  return { fetch: instrumented, answered: answer, release };
}

/** A clock the test moves forward; the server keeps real time. */
function testClock() {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms: number) => void (offset += ms) };
}

function recordEvents(client: AuthClient): AuthEvent['type'][] {
  const events: AuthEvent['type'][] = [];
  client.onChange((e) => events.push(e.type));
  return events;
}

for (const style of ['flat', 'envelope'] as const) {
  describe(`createAuthClient against a real Latchkey (${style} style)`, () => {
    let server: TestServer;
    const clients: AuthClient[] = [];
    const client = (options: Partial<AuthClientOptions> = {}) => {
      const c = createAuthClient({ baseUrl: server.url, style, ...options });
      clients.push(c);
      return c;
    };

    before(async () => {
      // 40 s tokens: the refresh margin is max(30 s, 4 s) = 30 s, so a token is due after 10 s.
      server = await startTestServer({ style, env: { LATCHKEY_ACCESS_TTL: '40s' } });
      await server.createUser('ada', { email: 'ada@example.com' });
    });
    after(async () => {
      for (const c of clients) c.close();
      await server.close();
    });

    test('login stores the session, emits authenticated, and fetch sends the Bearer token', async () => {
      const rec = recordingFetch();
      const auth = client({ fetch: rec.fetch });
      const events = recordEvents(auth);
      const session = await auth.login({ username: 'ada', password: PASSWORD });
      // A user without a second factor is signed in at once (SPEC §11 leaves them unchanged).
      assert.ok(!session.mfaRequired && !session.mfaEnrollmentRequired);
      assert.equal(session.user.username, 'ada');
      assert.equal(session.user.role, 'STANDARD');
      assert.deepEqual(events, ['authenticated']);
      const token = await auth.getAccessToken();
      assert.equal(claimsOf(token).sid, session.sessionId);
      const me = await auth.me();
      assert.equal(me.username, 'ada');
      assert.equal(me.email, 'ada@example.com');
      assert.match(me.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(rec.calls.at(-1)?.authorization, `Bearer ${token}`);
      const sessions = await auth.sessions();
      assert.equal(sessions.find((s) => s.current)?.id, session.sessionId);
      // Fresh token: no refresh was needed.
      assert.equal(rec.refreshes().length, 0);
      // Email works as the identifier too.
      const byEmail = await client().login({ email: 'ada@example.com', password: PASSWORD });
      assert.ok(!byEmail.mfaRequired && !byEmail.mfaEnrollmentRequired);
      assert.equal(byEmail.user.username, 'ada');
    });

    test("failures are LatchkeyErrors with the status and the envelope's code, in both styles", async () => {
      const auth = client();
      await assert.rejects(auth.login({ username: 'ada', password: 'wrong-password' }), (e: unknown) => {
        assert.ok(e instanceof LatchkeyError);
        assert.equal(e.status, 401);
        assert.equal(e.code, 'INVALID_CREDENTIALS');
        assert.equal(e.message, style === 'flat' ? 'invalid username or password' : 'Invalid email or password');
        return true;
      });
      await assert.rejects(auth.login({ username: 'ab', password: PASSWORD }), { status: 400, code: 'VALIDATION_ERROR' });
      await assert.rejects(auth.getAccessToken(), { status: 401, code: 'UNAUTHORIZED' });
      await assert.rejects(auth.fetch(`${server.url}/api/auth/me`), { status: 401 });
      const unreachable = createAuthClient({ baseUrl: 'http://127.0.0.1:1', style });
      await assert.rejects(unreachable.login({ username: 'ada', password: PASSWORD }), { status: 0, code: 'NETWORK_ERROR' });
    });

    test('fetch refreshes first when less than max(30 s, 10 %) of the lifetime is left', async () => {
      const clock = testClock();
      const rec = recordingFetch();
      const auth = client({ fetch: rec.fetch, now: clock.now });
      const events = recordEvents(auth);
      await auth.login({ username: 'ada', password: PASSWORD });
      const first = await auth.getAccessToken();
      clock.advance(9_000);
      assert.equal(await auth.getAccessToken(), first);
      assert.equal(rec.refreshes().length, 0);
      clock.advance(2_000); // 29 s left
      const res = await auth.fetch(`${server.url}/api/auth/verify`);
      assert.equal(res.status, 200);
      assert.equal(rec.refreshes().length, 1);
      assert.deepEqual(
        rec.calls.map((c) => c.path),
        ['/api/auth/login', '/api/auth/refresh', '/api/auth/verify'],
      );
      const second = await auth.getAccessToken();
      assert.notEqual(second, first);
      assert.equal(claimsOf(second).sid, claimsOf(first).sid);
      assert.equal(rec.calls.at(-1)?.authorization, `Bearer ${second}`);
      assert.deepEqual(events, ['authenticated', 'refreshed']);
      // The refresh token went in the body under the style's name.
      assert.deepEqual(Object.keys(JSON.parse(rec.refreshes()[0]?.body ?? '{}')), [style === 'flat' ? 'refresh_token' : 'refreshToken']);
    });

    test('ten parallel calls with a token due for refresh share one refresh', async () => {
      const clock = testClock();
      const rec = recordingFetch();
      const auth = client({ fetch: rec.fetch, now: clock.now });
      await auth.login({ username: 'ada', password: PASSWORD });
      clock.advance(15_000);
      const responses = await Promise.all(Array.from({ length: 10 }, () => auth.fetch(`${server.url}/api/auth/verify`)));
      assert.deepEqual(
        responses.map((r) => r.status),
        Array(10).fill(200),
      );
      assert.equal(rec.refreshes().length, 1);
      const token = await auth.getAccessToken();
      assert.ok(rec.calls.filter((c) => c.path === '/api/auth/verify').every((c) => c.authorization === `Bearer ${token}`));
    });

    test('refresh(rejectedToken) after a shared refresh has finished reuses its result instead of refreshing again', async () => {
      const rec = recordingFetch();
      const auth = client({ fetch: rec.fetch });
      await auth.login({ username: 'ada', password: PASSWORD });
      const rejected = await auth.getAccessToken();
      // Two requests fail with the same token; the second 401 arrives once the first refresh is done.
      const first = await auth.refresh(rejected);
      const second = await auth.refresh(rejected);
      assert.deepEqual(second, first);
      assert.equal(rec.refreshes().length, 1);
      assert.notEqual(await auth.getAccessToken(), rejected);
      // Without a rejected token (or with the current one), refresh rotates.
      await auth.refresh();
      await auth.refresh(await auth.getAccessToken());
      assert.equal(rec.refreshes().length, 3);
    });

    test('a 401 from an API triggers one refresh and one retry', async () => {
      const storage = memoryStorage();
      const rec = recordingFetch();
      const auth = client({ fetch: rec.fetch, storage });
      await auth.login({ username: 'ada', password: PASSWORD });
      // The stored access token stops working (say, the API was given another key): same claims, bad signature.
      const stored = JSON.parse(storage.get('latchkey.session') ?? '{}');
      storage.set('latchkey.session', JSON.stringify({ ...stored, accessToken: stored.accessToken.slice(0, -4) + 'AAAA' }));
      const res = await auth.fetch(`${server.url}/api/auth/me`, { headers: { 'x-request-id': 'retry-1' } });
      assert.equal(res.status, 200);
      assert.deepEqual(
        rec.calls.slice(1).map((c) => [c.path, c.method]),
        [
          ['/api/auth/me', 'GET'],
          ['/api/auth/refresh', 'POST'],
          ['/api/auth/me', 'GET'],
        ],
      );
      assert.equal(res.headers.get('x-request-id'), 'retry-1');
    });

    test('a request body survives the retry', async () => {
      const storage = memoryStorage();
      const auth = client({ storage });
      await auth.login({ username: 'ada', password: PASSWORD });
      const stored = JSON.parse(storage.get('latchkey.session') ?? '{}');
      storage.set('latchkey.session', JSON.stringify({ ...stored, accessToken: stored.accessToken.slice(0, -4) + 'AAAA' }));
      // A wrong current password is a 403; a lost body would be a 400.
      const res = await auth.fetch(`${server.url}/api/auth/password`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          [style === 'flat' ? 'current_password' : 'currentPassword']: 'wrong-password',
          [style === 'flat' ? 'new_password' : 'newPassword']: 'another-Passw0rd!',
        }),
      });
      assert.equal(res.status, 403);
    });

    test('when the refresh fails too, fetch returns the 401 and the client reports unauthenticated', async () => {
      const auth = client();
      const events = recordEvents(auth);
      await auth.login({ username: 'ada', password: PASSWORD });
      // The session is revoked elsewhere (logout in another app, an admin).
      const revoked = await server.request('POST', '/api/auth/logout', { token: await auth.getAccessToken() });
      assert.equal(revoked.status, 204);
      const res = await auth.fetch(`${server.url}/api/auth/me`);
      assert.equal(res.status, 401);
      assert.deepEqual(events, ['authenticated', 'unauthenticated']);
      assert.equal(auth.session(), null);
      await assert.rejects(auth.getAccessToken(), { status: 401 });
    });

    test('logout revokes the session on the server and clears the client', async () => {
      const storage = memoryStorage();
      const rec = recordingFetch();
      const auth = client({ storage, fetch: rec.fetch });
      const events = recordEvents(auth);
      await auth.login({ username: 'ada', password: PASSWORD });
      const { accessToken, refreshToken } = JSON.parse(storage.get('latchkey.session') ?? '{}');
      await auth.logout();
      assert.deepEqual(events, ['authenticated', 'unauthenticated']);
      assert.equal(storage.get('latchkey.session'), null);
      assert.equal(auth.session(), null);
      assert.equal(rec.calls.at(-1)?.authorization, `Bearer ${accessToken}`);
      // Latchkey refuses both tokens from now on.
      assert.equal((await server.request('GET', '/api/auth/me', { token: accessToken })).status, 401);
      const refresh = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: refreshToken } });
      assert.equal(refresh.status, 401);
      // A second logout is harmless.
      await auth.logout();
    });

    test('a refresh answered after logout is discarded: the user stays signed out and no token is kept', async () => {
      const storage = memoryStorage();
      const rec = recordingFetch();
      const held = holdingRefresh(rec.fetch);
      const auth = client({ storage, fetch: held.fetch });
      const events = recordEvents(auth);
      await auth.login({ username: 'ada', password: PASSWORD });
      // The rotation reaches the server (which rotates), then the user signs out before its answer lands.
      const refreshing = auth.refresh().then(
        () => undefined,
        (error: unknown) => error,
      );
      await held.answered;
      await auth.logout();
      held.release();
      const outcome = await refreshing;
      assert.equal(auth.session(), null);
      assert.equal(storage.get('latchkey.session'), null);
      assert.deepEqual(events, ['authenticated', 'unauthenticated']);
      assert.deepEqual(
        rec.calls.map((c) => c.path),
        ['/api/auth/login', '/api/auth/refresh', '/api/auth/logout'],
      );
      // The caller of refresh() learns that there is no session rather than getting one back.
      assert.ok(outcome instanceof LatchkeyError);
      assert.equal(outcome.status, 401);
      assert.equal(outcome.code, 'UNAUTHORIZED');
      await assert.rejects(auth.getAccessToken(), { status: 401 });
    });

    test('cookie mode keeps the refresh token out of the client, refreshes with the cookie, and restores a session after a reload', async () => {
      const jar = new Map<string, string>();
      const clock = testClock();
      const rec = recordingFetch(jar);
      const auth = client({ storage: 'cookie', fetch: rec.fetch, now: clock.now });
      await auth.login({ username: 'ada', password: PASSWORD });
      assert.ok(jar.get('latchkey_refresh'));
      clock.advance(11_000);
      const before = jar.get('latchkey_refresh');
      assert.equal((await auth.fetch(`${server.url}/api/auth/verify`)).status, 200);
      const refresh = rec.refreshes()[0];
      assert.equal(refresh?.body, '', 'no refresh token in the body');
      assert.equal(refresh?.cookie, `latchkey_refresh=${before}`);
      assert.notEqual(jar.get('latchkey_refresh'), before, 'the cookie rotated');

      // A reload: a new client with nothing in memory, the same cookie jar.
      const reloaded = client({ storage: 'cookie', fetch: rec.fetch });
      const events = recordEvents(reloaded);
      assert.equal(reloaded.session(), null);
      assert.equal((await reloaded.me()).username, 'ada');
      assert.deepEqual(events, ['authenticated']);

      await reloaded.logout();
      assert.equal(jar.has('latchkey_refresh'), false, 'logout cleared the cookie');
      // With no cookie left, a reload finds no session and says so: the server's 401 "no session".
      const again = client({ storage: 'cookie', fetch: rec.fetch });
      const afterLogout = recordEvents(again);
      await assert.rejects(again.getAccessToken(), { status: 401 });
      assert.deepEqual(afterLogout, ['unauthenticated']);
    });

    test('two tabs sharing a cookie (BroadcastChannel, no Web Locks) refresh once, and a logout in one reaches the other', async () => {
      const jar = new Map<string, string>();
      const clock = testClock();
      const rec = recordingFetch(jar);
      const channel = `tabs-${style}-${Math.random()}`;
      const tabA = client({ storage: 'cookie', fetch: rec.fetch, now: clock.now, crossTab: channel });
      const tabB = client({ storage: 'cookie', fetch: rec.fetch, now: clock.now, crossTab: channel });
      const eventsB = recordEvents(tabB);
      await tabA.login({ username: 'ada', password: PASSWORD });
      await waitUntil('the other tab hears of the refresh', () => eventsB.length === 1, { timeoutMs: 2000, intervalMs: 10 });
      assert.deepEqual(eventsB, ['authenticated']);
      assert.equal(tabB.session()?.user.username, 'ada');

      clock.advance(15_000);
      const results = await Promise.all([tabA, tabB, tabA, tabB].map((tab) => tab.fetch(`${server.url}/api/auth/verify`)));
      assert.deepEqual(
        results.map((r) => r.status),
        [200, 200, 200, 200],
      );
      assert.equal(rec.refreshes().length, 1);

      await tabA.logout();
      await waitUntil('the other tab hears of the logout', () => eventsB.at(-1) === 'unauthenticated', { timeoutMs: 2000, intervalMs: 10 });
      assert.equal(tabB.session(), null);
    });
  });
}
