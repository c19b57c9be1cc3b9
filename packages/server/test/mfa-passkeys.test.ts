import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidPasskey } from '../src/errors.ts';
import { SoftwareAuthenticator } from './support/webauthn.ts';
import { PASSWORD, type Style, type TestServer, claimsOf, errorOf, matrix, startTestServer, tokensOf } from './support/server.ts';

const PUBLIC_URL = 'https://auth.example.test';
const RP_ID = 'auth.example.test';

function dataOf(res: { body: any }, style: Style): any {
  return style === 'flat' ? res.body : res.body.data;
}

for (const { style, engine, name } of matrix()) {
  describe(`passkeys (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({
        style,
        engine,
        env: { LATCHKEY_PUBLIC_URL: PUBLIC_URL, LATCHKEY_WEBAUTHN_ORIGINS: 'https://app.example.test' },
      });
    });
    after(() => server.close());

    const invalidPasskey = () => (style === 'flat' ? 'invalid passkey' : 'INVALID_PASSKEY');

    /** A user with one registered passkey; the authenticator holding it and a session token. */
    async function withPasskey(
      username: string,
      origin = PUBLIC_URL,
    ): Promise<{ authenticator: SoftwareAuthenticator; access: string; id: string }> {
      await server.createUser(username);
      const { access } = await server.login(username);
      const authenticator = new SoftwareAuthenticator(RP_ID, origin);
      const options = await server.request('POST', '/api/auth/passkeys/register/options', { token: access });
      assert.equal(options.status, 200, options.text);
      const res = await server.request('POST', '/api/auth/passkeys/register', {
        token: access,
        body: { credential: authenticator.register(dataOf(options, style)), name: 'Laptop' },
      });
      assert.equal(res.status, 201, res.text);
      return { authenticator, access, id: dataOf(res, style).id };
    }

    async function loginOptions(body: object = {}): Promise<{ challenge: string; challengeId: string; options: any }> {
      const res = await server.request('POST', '/api/auth/passkeys/login/options', { body });
      assert.equal(res.status, 200, res.text);
      const data = dataOf(res, style);
      return { challenge: data.challenge, challengeId: style === 'flat' ? data.challenge_id : data.challengeId, options: data };
    }

    test('registration options follow SPEC §11 and a registered passkey is listed, renamed and deleted by its owner only', async () => {
      await server.createUser('reg');
      const { access } = await server.login('reg');
      const res = await server.request('POST', '/api/auth/passkeys/register/options', { token: access });
      assert.equal(res.status, 200);
      const options = dataOf(res, style);
      assert.equal(options.rp.id, RP_ID);
      assert.equal(options.user.name, 'reg');
      assert.deepEqual(options.excludeCredentials, []);
      assert.equal(options.authenticatorSelection.residentKey, 'preferred');
      assert.equal(options.authenticatorSelection.userVerification, 'preferred');
      const authenticator = new SoftwareAuthenticator(RP_ID, PUBLIC_URL);
      const created = await server.request('POST', '/api/auth/passkeys/register', {
        token: access,
        body: { credential: authenticator.register(options), name: 'Phone' },
      });
      assert.equal(created.status, 201, created.text);
      const view = dataOf(created, style);
      assert.deepEqual(Object.keys(view), style === 'flat' ? ['id', 'name', 'created_at'] : ['id', 'name', 'createdAt']);
      assert.equal(view.name, 'Phone');

      const again = await server.request('POST', '/api/auth/passkeys/register/options', { token: access });
      assert.deepEqual(
        dataOf(again, style).excludeCredentials.map((c: { id: string }) => c.id),
        [authenticator.id],
      );

      const list = await server.request('GET', '/api/auth/passkeys', { token: access });
      assert.equal(list.status, 200);
      const items = style === 'flat' ? list.body.items : list.body.data;
      assert.deepEqual(
        items.map((p: { id: string }) => p.id),
        [view.id],
      );
      assert.deepEqual(
        Object.keys(items[0]),
        style === 'flat' ? ['id', 'name', 'created_at', 'last_used_at'] : ['id', 'name', 'createdAt', 'lastUsedAt'],
      );

      const renamed = await server.request('PATCH', `/api/auth/passkeys/${view.id}`, { token: access, body: { name: 'Work phone' } });
      assert.equal(renamed.status, 200);
      assert.equal(dataOf(renamed, style).name, 'Work phone');

      await server.createUser('mallory');
      const other = (await server.login('mallory')).access;
      assert.equal((await server.request('PATCH', `/api/auth/passkeys/${view.id}`, { token: other, body: { name: 'mine' } })).status, 404);
      assert.equal((await server.request('DELETE', `/api/auth/passkeys/${view.id}`, { token: other })).status, 404);
      assert.equal((await server.request('DELETE', `/api/auth/passkeys/${view.id}`, { token: access })).status, 204);
      assert.equal((await server.request('DELETE', `/api/auth/passkeys/${view.id}`, { token: access })).status, 404);
      const types = await server.core.store.db
        .selectFrom('audit_events')
        .select('type')
        .where('type', 'in', ['passkey_added', 'passkey_removed'])
        .execute();
      assert.deepEqual(types.map((t) => t.type).sort(), ['passkey_added', 'passkey_removed']);
    });

    test('a registration from another origin, for another RP ID, or for a spent challenge is refused', async () => {
      await server.createUser('regbad');
      const { access } = await server.login('regbad');
      const options = async () => dataOf(await server.request('POST', '/api/auth/passkeys/register/options', { token: access }), style);
      for (const overrides of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }]) {
        const res = await server.request('POST', '/api/auth/passkeys/register', {
          token: access,
          body: { credential: new SoftwareAuthenticator(RP_ID, PUBLIC_URL).register(await options(), overrides) },
        });
        assert.equal(res.status, 401, JSON.stringify(overrides));
        assert.equal(errorOf(res, style), invalidPasskey());
      }
      const opts = await options();
      const ok = await server.request('POST', '/api/auth/passkeys/register', {
        token: access,
        body: { credential: new SoftwareAuthenticator(RP_ID, PUBLIC_URL).register(opts) },
      });
      assert.equal(ok.status, 201);
      const reused = await server.request('POST', '/api/auth/passkeys/register', {
        token: access,
        body: { credential: new SoftwareAuthenticator(RP_ID, PUBLIC_URL).register(opts) },
      });
      assert.equal(reused.status, 401);
      assert.equal(await server.core.mfa.passkeys.count((await server.core.users.getByUsername('regbad')).id), 1);
    });

    test('a discoverable passkey signs in without a password: amr is ["hwk","user"] and the login body and cookie come back', async () => {
      const { authenticator } = await withPasskey('passwordless');
      const { options, challengeId } = await loginOptions();
      assert.deepEqual(options.allowCredentials, []);
      assert.equal(options.userVerification, 'required');
      assert.equal(options.rpId, RP_ID);
      const res = await server.request('POST', '/api/auth/passkeys/login', {
        body: { challenge_id: challengeId, credential: authenticator.assert(options) },
      });
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers.get('set-cookie') ?? '', /^latchkey_refresh=/);
      const claims = claimsOf(tokensOf(res, style).access);
      assert.equal(claims.username, 'passwordless');
      assert.deepEqual(claims.amr, ['hwk', 'user']);
      // A username (a public handle) lists that user's passkeys; an address never does, so the answer cannot
      // tell whether an address has an account.
      const named = await loginOptions({ username: 'passwordless' });
      assert.deepEqual(
        named.options.allowCredentials.map((c: { id: string }) => c.id),
        [authenticator.id],
      );
      await server.core.users.update((await server.core.users.getByUsername('passwordless')).id, { email: 'pw@example.com' });
      for (const username of ['pw@example.com', 'PW@example.com', 'nobody@example.com']) {
        assert.deepEqual((await loginOptions({ username })).options.allowCredentials, [], username);
      }
    });

    test('passwordless refusals: wrong origin, wrong RP ID, reused challenge, counter going backwards, tampered signature', async () => {
      const { authenticator } = await withPasskey('refusals');
      const attempt = async (
        overrides: Parameters<SoftwareAuthenticator['assert']>[1],
        challenge?: { challengeId: string; options: any },
      ) => {
        const c = challenge ?? (await loginOptions());
        return server.request('POST', '/api/auth/passkeys/login', {
          body: { challengeId: c.challengeId, credential: authenticator.assert(c.options, overrides) },
        });
      };
      for (const overrides of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }, { tamper: true }]) {
        const res = await attempt(overrides);
        assert.equal(res.status, 401, JSON.stringify(overrides));
        assert.equal(errorOf(res, style), invalidPasskey());
        assert.equal(res.headers.get('set-cookie'), null);
      }
      // The other configured origin is allowed.
      const fromApp = await attempt({ origin: 'https://app.example.test' });
      assert.equal(fromApp.status, 200, fromApp.text);

      const c = await loginOptions();
      assert.equal((await attempt({}, c)).status, 200);
      const reused = await attempt({}, c);
      assert.equal(reused.status, 401);
      assert.equal(errorOf(reused, style), invalidPasskey());

      const stored = await server.core.store.db
        .selectFrom('passkeys')
        .select('counter')
        .where('credential_id', '=', authenticator.id)
        .executeTakeFirstOrThrow();
      const counter = Number(stored.counter);
      assert.ok(counter > 1);
      const backwards = await attempt({ counter: counter - 1 });
      assert.equal(backwards.status, 401);
      const same = await attempt({ counter });
      assert.equal(same.status, 401);
      assert.equal((await attempt({ counter: counter + 5 })).status, 200);
    });

    test('a passwordless challenge lives five minutes', async () => {
      const { authenticator } = await withPasskey('expiring');
      const { options, challengeId } = await loginOptions();
      const row = await server.core.store.db
        .selectFrom('mfa_challenges')
        .select(['created_at', 'expires_at'])
        .where('kind', '=', 'passkey_login')
        .orderBy('created_at', 'desc')
        .executeTakeFirstOrThrow();
      assert.equal(row.expires_at - row.created_at, 5 * 60_000);
      await assert.rejects(
        server.core.mfa.secondStep.passkeyLogin(challengeId, authenticator.assert(options) as never, {}, row.expires_at),
        (error: unknown) => error instanceof InvalidPasskey,
      );
    });

    test('error paths: a passkey registered twice (409), malformed bodies (400), unreadable credentials and dead tokens (401)', async () => {
      const { authenticator, access, id } = await withPasskey('errors');
      const options = dataOf(await server.request('POST', '/api/auth/passkeys/register/options', { token: access }), style);
      const twice = await server.request('POST', '/api/auth/passkeys/register', {
        token: access,
        body: { credential: authenticator.register(options) },
      });
      assert.equal(twice.status, 409);
      assert.equal(errorOf(twice, style), style === 'flat' ? 'this passkey is already registered' : 'CONFLICT');
      for (const body of [
        {},
        { credential: { id: 'x' } },
        { credential: 'x' },
        { credential: authenticator.register(options), name: '' },
      ]) {
        assert.equal(
          (await server.request('POST', '/api/auth/passkeys/register', { token: access, body })).status,
          400,
          JSON.stringify(body).slice(0, 80),
        );
      }
      const unreadable = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: '%%%', attestationObject: 'AA' } };
      const refused = await server.request('POST', '/api/auth/passkeys/register', { token: access, body: { credential: unreadable } });
      assert.equal(refused.status, 401);
      assert.equal(errorOf(refused, style), invalidPasskey());
      assert.equal((await server.request('PATCH', `/api/auth/passkeys/${id}`, { token: access, body: { name: '' } })).status, 400);
      assert.equal((await server.request('POST', '/api/auth/passkeys/register/options')).status, 401);
      const dead = await server.request('POST', '/api/auth/mfa/passkey/options', { body: { mfa_token: 'no-such-token' } });
      assert.equal(dead.status, 401);
      assert.equal(errorOf(dead, style), style === 'flat' ? 'invalid or expired token' : 'INVALID_TOKEN');
      const noChallenge = await server.request('POST', '/api/auth/passkeys/login', {
        body: { challenge_id: 'no-such-challenge', credential: authenticator.assert({ challenge: 'x' }) },
      });
      assert.equal(noChallenge.status, 401);
      assert.equal(
        (await server.request('POST', '/api/auth/passkeys/login', { body: { credential: authenticator.assert({ challenge: 'x' }) } }))
          .status,
        400,
      );
    });

    test('a passkey as the second factor after a password gives amr ["pwd","hwk"]', async () => {
      const { authenticator } = await withPasskey('second');
      const login = await server.request('POST', '/api/auth/login', { body: { username: 'second', password: PASSWORD } });
      assert.equal(login.status, 200);
      const pending = dataOf(login, style);
      assert.deepEqual(pending.methods, ['passkey']);
      const mfaToken = style === 'flat' ? pending.mfa_token : pending.mfaToken;
      const options = await server.request('POST', '/api/auth/mfa/passkey/options', { body: { mfa_token: mfaToken } });
      assert.equal(options.status, 200, options.text);
      const opts = dataOf(options, style);
      assert.deepEqual(
        opts.allowCredentials.map((c: { id: string }) => c.id),
        [authenticator.id],
      );
      const assertion = authenticator.assert(opts);
      const res = await server.request('POST', '/api/auth/mfa/verify', { body: { mfaToken, credential: assertion } });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(claimsOf(tokensOf(res, style).access).amr, ['pwd', 'hwk']);

      // Another user's passkey cannot stand in as this user's factor.
      const { authenticator: stranger } = await withPasskey('stranger');
      const login2 = await server.request('POST', '/api/auth/login', { body: { username: 'second', password: PASSWORD } });
      const token2 = dataOf(login2, style)[style === 'flat' ? 'mfa_token' : 'mfaToken'];
      const opts2 = dataOf(await server.request('POST', '/api/auth/mfa/passkey/options', { body: { mfa_token: token2 } }), style);
      const wrong = await server.request('POST', '/api/auth/mfa/verify', {
        body: { mfa_token: token2, credential: stranger.assert(opts2) },
      });
      assert.equal(wrong.status, 401);
      assert.equal(errorOf(wrong, style), invalidPasskey());
    });

    test('an admin reset removes the factors and revokes the sessions; the admin view shows mfa', async () => {
      const { access } = await withPasskey('resetme');
      const user = await server.core.users.getByUsername('resetme');
      const admin = (await server.login('root', 'root-password-for-tests')).access;
      const view = await server.request('GET', `/api/admin/users/${user.id}`, { token: admin });
      assert.equal(view.status, 200);
      assert.deepEqual(dataOf(view, style).mfa, { totp: false, passkeys: 1 });
      assert.equal((await server.request('DELETE', `/api/admin/users/${user.id}/factors`, { token: access })).status, 403);
      const reset = await server.request('DELETE', `/api/admin/users/${user.id}/factors`, { token: admin });
      assert.equal(reset.status, 204);
      assert.equal((await server.request('GET', '/api/auth/me', { token: access })).status, 401);
      assert.deepEqual(dataOf(await server.request('GET', `/api/admin/users/${user.id}`, { token: admin }), style).mfa, {
        totp: false,
        passkeys: 0,
      });
      // Back to a plain password login.
      assert.ok(
        tokensOf(await server.request('POST', '/api/auth/login', { body: { username: 'resetme', password: PASSWORD } }), style).access,
      );
      assert.equal((await server.request('DELETE', '/api/admin/users/999999/factors', { token: admin })).status, 404);
      const events = await server.core.store.db
        .selectFrom('audit_events')
        .select(['type', 'actor_user_id'])
        .where('type', '=', 'factors_reset')
        .execute();
      assert.equal(events.length, 1);
    });
  });
}
