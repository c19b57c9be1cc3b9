import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { hashJti } from '../src/auth/sessions.ts';
import { type TestServer, claimsOf, errorOf, matrix, startTestServer, tokensOf } from './support/server.ts';

for (const { style, engine, name } of matrix()) {
  const refreshFailed = style === 'flat' ? 'failed to refresh access token' : 'INVALID_REFRESH_TOKEN';

  describe(`refresh (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine });
      await server.createUser('ada');
    });
    after(() => server.close());

    const refresh = (token: string, field = style === 'flat' ? 'refresh_token' : 'refreshToken') =>
      server.request('POST', '/api/auth/refresh', { body: { [field]: token } });
    const refreshState = (sid: string) =>
      server.core.store.db
        .selectFrom('sessions')
        .select(['refresh_hash', 'previous_hash', 'rotated_at'])
        .where('id', '=', sid)
        .executeTakeFirstOrThrow();

    test('a refresh token is spent for a new pair in the login shape, same session', async () => {
      const first = await server.login('ada');
      const res = await refresh(first.refresh);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.deepEqual(
        Object.keys(style === 'flat' ? res.body : res.body.data),
        Object.keys(style === 'flat' ? first.result.body : first.result.body.data),
      );
      const next = tokensOf(res, style);
      assert.notEqual(next.refresh, first.refresh);
      assert.equal(claimsOf(next.access).sid, claimsOf(first.access).sid);
      assert.equal(claimsOf(next.refresh).sid, claimsOf(first.access).sid);
      const exp = style === 'flat' ? res.body.expires_at : Date.parse(res.body.data.expiresAt) / 1000;
      assert.equal(exp, claimsOf(next.access).exp);
      assert.match(res.headers.get('set-cookie') ?? '', new RegExp(`^latchkey_refresh=${next.refresh.replace(/\./g, '\\.')};`));
      // The new pair works; the session now holds the successor as its one unspent token and the spent one
      // as its previous, both by hash only.
      assert.equal((await server.request('GET', '/api/auth/verify', { token: next.access })).status, 200);
      const sid = claimsOf(first.access).sid;
      const state = await refreshState(sid);
      assert.equal(state.refresh_hash, hashJti(claimsOf(next.refresh).jti));
      assert.equal(state.previous_hash, hashJti(claimsOf(first.refresh).jti));
      assert.equal(Math.floor((state.rotated_at ?? 0) / 1000), claimsOf(next.refresh).iat);
      const row = await server.core.store.db.selectFrom('sessions').selectAll().where('id', '=', sid).executeTakeFirstOrThrow();
      assert.doesNotMatch(JSON.stringify(row), new RegExp(claimsOf(next.refresh).jti));
      assert.doesNotMatch(JSON.stringify(row), new RegExp(claimsOf(first.refresh).jti));
    });

    test('either field name works in either style, and the cookie alone works', async () => {
      const a = await server.login('ada');
      assert.equal((await refresh(a.refresh, 'refresh_token')).status, 200);
      const b = await server.login('ada');
      assert.equal((await refresh(b.refresh, 'refreshToken')).status, 200);
      const c = await server.login('ada');
      const byCookie = await server.request('POST', '/api/auth/refresh', { headers: { cookie: `latchkey_refresh=${c.refresh}` } });
      assert.equal(byCookie.status, 200);
      assert.equal(claimsOf(tokensOf(byCookie, style).refresh).sid, claimsOf(c.refresh).sid);
    });

    test('no refresh token in body or cookie (a signed-out page on load) is a 401 with the refresh error', async () => {
      const before = await server.core.store.db.selectFrom('sessions').select('id').execute();
      for (const options of [{}, { body: {} }, { headers: { 'content-type': 'application/json' }, raw: '{}' }]) {
        const res = await server.request('POST', '/api/auth/refresh', options);
        assert.equal(res.status, 401, JSON.stringify(options));
        assert.equal(res.headers.get('www-authenticate'), 'Bearer');
        assert.equal(errorOf(res, style), refreshFailed);
        if (style === 'envelope') assert.equal(res.body.error.message, 'Invalid or expired refresh token');
      }
      assert.deepEqual(await server.core.store.db.selectFrom('sessions').select('id').execute(), before, 'nothing was created');
    });

    test('a really malformed body is still a 400', async () => {
      const cases = [
        { body: { refresh_token: '' } },
        { body: { refresh_token: 42 } },
        { headers: { 'content-type': 'application/json' }, raw: '{"refresh_token":' },
      ];
      for (const options of cases) {
        const res = await server.request('POST', '/api/auth/refresh', options);
        assert.equal(res.status, 400, JSON.stringify(options));
        assert.equal(errorOf(res, style), style === 'flat' ? 'invalid request body' : 'VALIDATION_ERROR');
      }
    });

    test('garbage, an access token, or a token of another issuer is a 401', async () => {
      const { access } = await server.login('ada');
      for (const token of ['not-a-jwt', 'a.b.c', access]) {
        const res = await refresh(token);
        assert.equal(res.status, 401);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer');
        assert.equal(errorOf(res, style), refreshFailed);
        if (style === 'envelope') assert.equal(res.body.error.message, 'Invalid or expired refresh token');
      }
    });

    test('a spent token within the grace gets the very same successor, never a second branch', async () => {
      const first = await server.login('ada');
      const one = tokensOf(await refresh(first.refresh), style);
      const twice = await refresh(first.refresh);
      assert.equal(twice.status, 200);
      const two = tokensOf(twice, style);
      assert.equal(two.refresh, one.refresh, 'the same successor token');
      const [c1, c2] = [claimsOf(one.refresh), claimsOf(two.refresh)];
      assert.deepEqual([c2.jti, c2.sid, c2.exp], [c1.jti, c1.sid, c1.exp]);
      assert.equal(claimsOf(two.access).sid, claimsOf(one.access).sid);
      assert.notEqual(claimsOf(two.access).jti, claimsOf(one.access).jti, 'a fresh access token');
      assert.deepEqual(await refreshState(c1.sid), {
        refresh_hash: hashJti(c1.jti),
        previous_hash: hashJti(claimsOf(first.refresh).jti),
        rotated_at: (await refreshState(c1.sid)).rotated_at,
      });
      // The successor still rotates normally afterwards.
      assert.equal((await refresh(two.refresh)).status, 200);
    });

    test('a token spent two rotations ago is reuse even within the grace: only the last spent token has one', async () => {
      const first = await server.login('ada');
      const second = tokensOf(await refresh(first.refresh), style);
      assert.equal((await refresh(second.refresh)).status, 200);
      const replay = await refresh(first.refresh);
      assert.equal(replay.status, 401);
      assert.equal(errorOf(replay, style), refreshFailed);
      const session = await server.core.store.db
        .selectFrom('sessions')
        .select('revoke_reason')
        .where('id', '=', claimsOf(first.refresh).sid)
        .executeTakeFirstOrThrow();
      assert.equal(session.revoke_reason, 'refresh_token_reuse');
    });

    test('20 parallel refreshes of one token produce exactly one successor', async () => {
      const first = await server.login('ada');
      const results = await Promise.all(Array.from({ length: 20 }, () => refresh(first.refresh)));
      assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
      assert.equal(new Set(results.map((r) => tokensOf(r, style).refresh)).size, 1);
      // One rotation happened: the parent is the previous token, the one successor the unspent one.
      const [successor] = results.filter((r) => r.status === 200).map((r) => tokensOf(r, style).refresh);
      const state = await server.core.store.db
        .selectFrom('sessions')
        .select(['refresh_hash', 'previous_hash'])
        .where('id', '=', claimsOf(first.refresh).sid)
        .executeTakeFirstOrThrow();
      assert.deepEqual(state, {
        refresh_hash: hashJti(claimsOf(successor ?? '').jti),
        previous_hash: hashJti(claimsOf(first.refresh).jti),
      });
    });

    test('a role change shows at the next refresh, and a disabled user cannot refresh', async () => {
      const user = await server.createUser('rolly');
      const first = await server.login('rolly');
      assert.equal(claimsOf(first.access).role, 'STANDARD');
      await server.core.accounts.setRole(user.id, 'ADMIN');
      const res = await refresh(first.refresh);
      assert.equal(claimsOf(tokensOf(res, style).access).role, 'ADMIN');
      assert.equal(claimsOf(tokensOf(res, style).refresh).role, 'ADMIN');
      await server.core.accounts.setDisabled(user.id, true);
      const refused = await refresh(tokensOf(res, style).refresh);
      assert.equal(refused.status, 401);
      assert.equal(errorOf(refused, style), refreshFailed);
    });
  });

  describe(`refresh token reuse after the grace (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine, env: { LATCHKEY_REFRESH_REUSE_GRACE: '0' } });
      await server.createUser('ada');
    });
    after(() => server.close());
    const refresh = (token: string) => server.request('POST', '/api/auth/refresh', { body: { refresh_token: token } });

    test('a spent refresh token after the grace revokes the whole session and is audited', async () => {
      const first = await server.login('ada');
      const next = tokensOf(await refresh(first.refresh), style);
      await sleep(5);
      const stolen = await refresh(first.refresh);
      assert.equal(stolen.status, 401);
      assert.equal(errorOf(stolen, style), refreshFailed);
      // Everything of the session stops: the successor, and its access tokens on Latchkey's endpoints.
      assert.equal((await refresh(next.refresh)).status, 401);
      assert.equal((await server.request('GET', '/api/auth/verify', { token: next.access })).status, 401);
      assert.equal((await server.request('GET', '/api/auth/me', { token: first.access })).status, 401);
      const sid = claimsOf(first.access).sid;
      const session = await server.core.store.db.selectFrom('sessions').selectAll().where('id', '=', sid).executeTakeFirstOrThrow();
      assert.equal(session.revoke_reason, 'refresh_token_reuse');
      const audit = await server.core.store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('type', '=', 'refresh_token_reuse')
        .where('session_id', '=', sid)
        .execute();
      assert.equal(audit.length, 1);
      const metrics = await server.request('GET', '/metrics');
      assert.match(metrics.text, /^latchkey_refresh_token_reuse_total 1$/m);
      assert.match(metrics.text, /^latchkey_refreshes_total\{outcome="reuse"\} 1$/m);
      // Another session of the same user is untouched.
      const other = await server.login('ada');
      assert.equal((await refresh(other.refresh)).status, 200);
    });

    test('with no grace, 20 parallel refreshes of one token give exactly one 200', async () => {
      const first = await server.login('ada');
      const results = await Promise.all(Array.from({ length: 20 }, () => refresh(first.refresh)));
      assert.equal(results.filter((r) => r.status === 200).length, 1);
      assert.equal(results.filter((r) => r.status === 401).length, 19);
      // One rotation happened: the parent is the previous token, the one successor the unspent one.
      const [successor] = results.filter((r) => r.status === 200).map((r) => tokensOf(r, style).refresh);
      const state = await server.core.store.db
        .selectFrom('sessions')
        .select(['refresh_hash', 'previous_hash'])
        .where('id', '=', claimsOf(first.refresh).sid)
        .executeTakeFirstOrThrow();
      assert.deepEqual(state, {
        refresh_hash: hashJti(claimsOf(successor ?? '').jti),
        previous_hash: hashJti(claimsOf(first.refresh).jti),
      });
    });
  });

  describe(`absolute session age (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine, env: { LATCHKEY_SESSION_MAX_AGE: '2s', LATCHKEY_REFRESH_TTL: '1h' } });
      await server.createUser('ada');
    });
    after(() => server.close());

    test('a refresh token never outlives its session, and refresh stops at the session end', async () => {
      const first = await server.login('ada');
      const loginAt = claimsOf(first.access).iat;
      assert.ok(claimsOf(first.refresh).exp <= loginAt + 3, 'capped by LATCHKEY_SESSION_MAX_AGE');
      const res = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: first.refresh } });
      assert.equal(res.status, 200);
      const next = tokensOf(res, style);
      assert.ok(claimsOf(next.refresh).exp <= loginAt + 3, 'refresh never extends the session');
      await sleep(2100);
      const late = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: next.refresh } });
      assert.equal(late.status, 401);
      assert.equal(errorOf(late, style), refreshFailed);
    });
  });
}
