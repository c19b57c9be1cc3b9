/**
 * Issue 10 items 15, 16, 18, 19: usernames compared under NFKC + case fold and refused with invisible or
 * bidirectional-control characters; emails compared by an ASCII fold only; `/verify` answers for a
 * username holding a lone surrogate; a token issued in the future is refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { emailKey, usernameKey } from '../src/auth/identifiers.ts';
import { PASSWORD, type TestServer, claimsOf, errorOf, matrix, startTestServer, tokensOf } from './support/server.ts';

describe('identifier keys', () => {
  test('usernames that read alike share one key; emails fold ASCII letters only', () => {
    for (const lookalike of ['ａｄｍｉｎ', 'ADMİN', 'admın', 'Admin', 'ＡＤＭＩＮ'])
      assert.equal(usernameKey(lookalike), 'admin', lookalike);
    assert.equal(usernameKey('Straße'), usernameKey('STRASSE'));
    assert.equal(emailKey('Kate@Example.COM'), 'kate@example.com');
    assert.notEqual(emailKey('\u212Aate@example.com'), emailKey('kate@example.com'));
    assert.equal(emailKey('Zoe\u0308@example.com'), emailKey('zoë@example.com'), 'NFC: composed and decomposed are one');
  });
});

for (const { style, engine, name } of matrix()) {
  describe(`usernames and emails (${name})`, () => {
    let server: TestServer;
    let admin: string;
    before(async () => {
      server = await startTestServer({ style, engine });
      admin = (await server.login('root', 'root-password-for-tests')).access;
      await server.createUser('admin', { email: 'kate@example.com' });
    });
    after(() => server.close());

    const create = (body: Record<string, unknown>) =>
      server.request('POST', '/api/admin/users', { token: admin, body: { password: PASSWORD, ...body } });

    test('a username that reads as an existing one (full width, dotted or dotless i, case) is a 409', async () => {
      for (const username of ['ａｄｍｉｎ', 'ADMİN', 'admın', 'ADMIN']) {
        const res = await create({ username });
        assert.equal(res.status, 409, `${username}: ${res.text}`);
        assert.equal(errorOf(res, style), style === 'flat' ? 'username is taken' : 'CONFLICT');
      }
      // And it logs in to that one account.
      const res = await server.request('POST', '/api/auth/login', { body: { username: 'ＡＤＭＩＮ', password: PASSWORD } });
      assert.equal(res.status, 200);
      assert.equal(claimsOf(tokensOf(res, style).access).username, 'admin');
    });

    test('invisible, bidirectional-control and lone-surrogate characters in a username are a 400', async () => {
      for (const username of ['ad\u200bmin2', 'evil\u202Egnp', 'nb\u00a0sp', 'joiner\u200d', 'fill\u3164er']) {
        const res = await create({ username });
        assert.equal(res.status, 400, `${JSON.stringify(username)}: ${res.text}`);
      }
      // A lone surrogate only travels as a JSON escape.
      const raw = await server.request('POST', '/api/admin/users', {
        token: admin,
        raw: `{"username":"lone\\ud800x","password":"${PASSWORD}"}`,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(raw.status, 400, raw.text);
      assert.equal((await server.core.users.list({ q: 'lone' })).total, 0);
    });

    test("a username equal to another user's email, or an email equal to another's username, is a 409", async () => {
      assert.equal((await create({ username: 'KATE@example.com' })).status, 409);
      assert.equal((await create({ username: 'kate2', email: 'ADMIN@x' })).status, 400, 'not an email address at all');
      await server.createUser('dan@example.com');
      assert.equal((await create({ username: 'danny', email: 'Dan@Example.com' })).status, 409);
    });

    test('a Kelvin sign in a typed email does not reach the account whose email has a k', async () => {
      const res = await server.request('POST', '/api/auth/login', { body: { email: '\u212Aate@example.com', password: PASSWORD } });
      assert.equal(res.status, 401);
      assert.equal(
        (await server.request('POST', '/api/auth/login', { body: { email: 'KATE@example.com', password: PASSWORD } })).status,
        200,
      );
    });

    test('/verify answers 200 for a correctly signed token whose username holds a lone surrogate', async () => {
      const user = await server.createUser('plain-name');
      const { token } = server.core.tokens.issueAccess(
        { id: user.id, username: 'bad\ud800name', role: 'STANDARD' },
        'sid-surrogate',
        'jti-surrogate',
      );
      const res = await server.request('GET', '/api/auth/verify', { token });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('x-user-name'), 'bad%EF%BF%BDname');
      assert.equal(res.headers.get('x-user-id'), String(user.id));
    });

    test('an access or refresh token issued in the future (beyond the 30 s skew) is refused', async () => {
      const { access, refresh } = tokensOf((await server.login('admin')).result, style);
      const claims = claimsOf(refresh);
      const now = Date.now();
      const subject = { id: claims.user_id as number, username: 'admin', role: 'STANDARD' as const };
      const future = server.core.tokens.issueAccess(subject, claims.sid, 'jti-future', now + 120_000).token;
      for (const path of ['/api/auth/verify', '/api/auth/me']) {
        const res = await server.request('GET', path, { token: future });
        assert.equal(res.status, 401, path);
        assert.equal(errorOf(res, style), style === 'flat' ? 'invalid or expired token' : 'UNAUTHORIZED');
      }
      const iat = Math.floor(now / 1000) + 120;
      const futureRefresh = server.core.tokens.issueRefresh(subject, claims.sid, claims.jti, iat, iat + 3600);
      const res = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: futureRefresh } });
      assert.equal(res.status, 401);
      // Within the skew, and the real ones, still work.
      const near = server.core.tokens.issueAccess(subject, claims.sid, 'jti-near', now + 20_000).token;
      assert.equal((await server.request('GET', '/api/auth/verify', { token: near })).status, 200);
      assert.equal((await server.request('GET', '/api/auth/verify', { token: access })).status, 200);
    });
  });
}
