import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PASSWORD, type TestServer, startTestServer } from '../../server/test/support/server.ts';
import { totpCode } from '../../server/test/support/totp.ts';
import { SoftwareAuthenticator } from '../../server/test/support/webauthn.ts';
import { type AuthClient, type WebAuthnCeremonies, createAuthClient } from '../src/index.ts';

const PUBLIC_URL = 'https://auth.example.test';

/** The software authenticator standing in for @simplewebauthn/browser (Chromium runs the real one in examples/web). */
function ceremonies(authenticator: SoftwareAuthenticator): WebAuthnCeremonies {
  return {
    startRegistration: async ({ optionsJSON }) => authenticator.register(optionsJSON as { challenge: string }),
    startAuthentication: async ({ optionsJSON }) => authenticator.assert(optionsJSON as { challenge: string }),
  };
}

for (const style of ['flat', 'envelope'] as const) {
  describe(`second factors in the client (${style} style)`, () => {
    let server: TestServer;
    const authenticator = new SoftwareAuthenticator('auth.example.test', PUBLIC_URL);
    const client = (): AuthClient => createAuthClient({ baseUrl: server.url, style, webauthn: ceremonies(authenticator) });
    before(async () => {
      server = await startTestServer({ style, env: { LATCHKEY_PUBLIC_URL: PUBLIC_URL } });
      await server.createUser('ada');
      await server.createUser('bob');
    });
    after(() => server.close());

    test('TOTP enrolment, then login answers a typed second step that verify(code) finishes', async () => {
      const auth = client();
      const first = await auth.login({ username: 'ada', password: PASSWORD });
      assert.ok(!first.mfaRequired && !first.mfaEnrollmentRequired);
      assert.deepEqual(first.amr, ['pwd']);
      const { secret, otpauthUri } = await auth.totp.enroll(PASSWORD);
      assert.match(otpauthUri, /^otpauth:\/\/totp\//);
      const codes = await auth.totp.confirm(totpCode(secret));
      assert.equal(codes.length, 10);

      const next = client();
      const events: string[] = [];
      next.onChange((e) => events.push(e.type));
      const pending = await next.login({ username: 'ada', password: PASSWORD });
      assert.ok(pending.mfaRequired);
      assert.deepEqual(pending.methods, ['totp', 'recovery_code']);
      assert.equal(next.session(), null);
      await assert.rejects(pending.verify('000000x'), { status: 401, code: 'INVALID_CODE' });
      const session = await pending.verify(totpCode(secret, 1));
      assert.deepEqual(session.amr, ['pwd', 'otp']);
      assert.deepEqual(events, ['authenticated']);
      assert.equal((await next.me()).username, 'ada');

      const viaRecovery = await client().login({ username: 'ada', password: PASSWORD });
      assert.ok(viaRecovery.mfaRequired);
      assert.deepEqual((await viaRecovery.verifyRecoveryCode(codes[0]!)).amr, ['pwd', 'otp']);
    });

    test('a wrong code on a signed-in request is an answer, not the end of the session (no refresh, no sign-out)', async () => {
      await server.createUser('cyd');
      const auth = client();
      const events: string[] = [];
      auth.onChange((e) => events.push(e.type));
      await auth.login({ username: 'cyd', password: PASSWORD });
      await auth.totp.enroll(PASSWORD);
      // A 401 INVALID_CODE from an endpoint that also takes the Bearer token: the token was fine.
      await assert.rejects(auth.totp.confirm('000000'), { status: 401, code: 'INVALID_CODE' });
      assert.deepEqual(events, ['authenticated'], 'neither refreshed nor signed out');
      assert.notEqual(auth.session(), null);
      assert.equal((await auth.me()).username, 'cyd');
      // A token the server really refuses still ends it.
      await server.core.sessions.revokeAllOfUser((await server.core.users.getByUsername('cyd')).id, 'admin');
      await assert.rejects(auth.me(), { status: 401 });
      assert.equal(auth.session(), null);
    });

    test('passkeys: register, list, passwordless login, and passkey as the second factor', async () => {
      const auth = client();
      const signedIn = await auth.login({ username: 'bob', password: PASSWORD });
      assert.ok(!signedIn.mfaRequired);
      const added = await auth.passkeys.register('Laptop');
      assert.equal(added.name, 'Laptop');
      assert.deepEqual(
        (await auth.passkeys.list()).map((p) => p.id),
        [added.id],
      );
      assert.equal((await auth.passkeys.rename(added.id, 'Desk')).name, 'Desk');

      const passwordless = await client().passkeys.login();
      assert.equal(passwordless.user.username, 'bob');
      assert.deepEqual(passwordless.amr, ['hwk', 'user']);

      const pending = await client().login({ username: 'bob', password: PASSWORD });
      assert.ok(pending.mfaRequired);
      assert.deepEqual(pending.methods, ['passkey']);
      assert.deepEqual((await pending.verifyPasskey()).amr, ['pwd', 'hwk']);

      await auth.passkeys.remove(added.id);
      assert.deepEqual(await auth.passkeys.list(), []);
    });
  });
}
