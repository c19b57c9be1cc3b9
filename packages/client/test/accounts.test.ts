/**
 * `@latchkey/client`'s account methods (SPEC §10) against a real Latchkey and a real SMTP server, in both
 * styles: the same results and the same error codes whatever the deployment's style.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PASSWORD, type TestServer, startTestServer } from '../../server/test/support/server.ts';
import { TestSmtp, tokenOf } from '../../server/test/support/smtp.ts';
import { totpCode } from '../../server/test/support/totp.ts';
import { type AuthClient, type AuthEvent, LatchkeyError, createAuthClient } from '../src/index.ts';

const NEW_PASSWORD = 'a-brand-new-passphrase-7';

async function refused(promise: Promise<unknown>, status: number, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof LatchkeyError, String(error));
    assert.equal(error.status, status);
    assert.equal(error.code, code);
    return true;
  });
}

for (const style of ['flat', 'envelope'] as const) {
  describe(`account methods of the client (${style} style)`, () => {
    let smtp: TestSmtp;
    let verify: TestServer;
    let open: TestServer;
    const clients: AuthClient[] = [];
    const client = (server: TestServer) => {
      const c = createAuthClient({ baseUrl: server.url, style });
      clients.push(c);
      return c;
    };

    before(async () => {
      smtp = await TestSmtp.start();
      verify = await startTestServer({ style, env: { LATCHKEY_SIGNUP: 'verify', LATCHKEY_SMTP_URL: smtp.url } });
      open = await startTestServer({ style, env: { LATCHKEY_SIGNUP: 'open', LATCHKEY_SMTP_URL: smtp.url } });
    });
    after(async () => {
      for (const c of clients) c.close();
      await verify.close();
      await open.close();
      await smtp.stop();
    });

    test('register in verify mode, login refused until the link is used, verifyEmail signs in', async () => {
      const auth = client(verify);
      const events: AuthEvent['type'][] = [];
      auth.onChange((e) => events.push(e.type));
      assert.deepEqual(await auth.register({ username: 'ada', email: 'ada@example.com', password: PASSWORD }), {
        status: 'verification_sent',
      });
      await refused(auth.login({ username: 'ada', password: PASSWORD }), 403, 'EMAIL_NOT_VERIFIED');
      await refused(auth.register({ username: 'ADA', email: 'other@example.com', password: PASSWORD }), 409, 'CONFLICT');

      const token = tokenOf(await smtp.next('ada@example.com'));
      const session = await auth.verifyEmail(token);
      assert.ok(!session.mfaRequired && !session.mfaEnrollmentRequired);
      assert.equal(session.user.username, 'ada');
      assert.deepEqual(events, ['authenticated']);
      const me = await auth.me();
      assert.equal(me.emailVerified, true);
      await refused(auth.verifyEmail(token), 400, 'INVALID_TOKEN');
    });

    test('verifyEmail for a user with a second factor answers the step to finish, as login does', async () => {
      await verify.createUser('dan', { email: 'dan@example.com' });
      const auth = client(verify);
      const first = await auth.login({ username: 'dan', password: PASSWORD });
      assert.ok(!first.mfaRequired && !first.mfaEnrollmentRequired);
      const { secret } = await auth.totp.enroll(PASSWORD);
      await auth.totp.confirm(totpCode(secret));
      await auth.changeEmail('dan@new.example.com', PASSWORD);
      await smtp.next('dan@example.com'); // the notice to the old address

      const other = client(verify);
      const events: AuthEvent['type'][] = [];
      other.onChange((e) => events.push(e.type));
      const step = await other.verifyEmail(tokenOf(await smtp.next('dan@new.example.com')));
      assert.ok(step.mfaRequired);
      assert.deepEqual(step.methods, ['totp', 'recovery_code']);
      assert.deepEqual(events, []);
      const session = await step.verify(totpCode(secret, 1));
      assert.deepEqual(session.amr, ['pwd', 'otp']);
      assert.equal((await other.me()).email, 'dan@new.example.com');
    });

    test('resendVerification and forgotPassword resolve alike for unknown addresses', async () => {
      const auth = client(verify);
      await auth.resendVerification('nobody@example.com');
      await auth.forgotPassword({ email: 'nobody@example.com' });
      await auth.forgotPassword({ username: 'nobody' });
      await refused(auth.forgotPassword({ email: 'not an address' }), 400, 'VALIDATION_ERROR');
    });

    test('forgotPassword and resetPassword: the new password works, every session ended', async () => {
      const auth = client(verify);
      await verify.createUser('bea', { email: 'bea@example.com' });
      await auth.login({ username: 'bea', password: PASSWORD });
      await auth.forgotPassword({ username: 'bea' });
      const token = tokenOf(await smtp.next('bea@example.com'));
      await refused(auth.resetPassword(token, 'short'), 400, 'VALIDATION_ERROR');
      await auth.resetPassword(token, NEW_PASSWORD);
      assert.equal(auth.session(), null);
      await refused(auth.resetPassword(token, NEW_PASSWORD), 400, 'INVALID_TOKEN');
      await refused(auth.login({ username: 'bea', password: PASSWORD }), 401, 'INVALID_CREDENTIALS');
      await auth.login({ username: 'bea', password: NEW_PASSWORD });
    });

    test('changeEmail needs the current password; the link confirms the new address', async () => {
      const auth = client(verify);
      await verify.createUser('cyd', { email: 'cyd@example.com' });
      await auth.login({ username: 'cyd', password: PASSWORD });
      await refused(auth.changeEmail('cyd@new.example.com', 'not-the-password'), 403, 'FORBIDDEN');
      await auth.changeEmail('cyd@new.example.com', PASSWORD);
      await smtp.next('cyd@example.com');
      await auth.verifyEmail(tokenOf(await smtp.next('cyd@new.example.com')));
      assert.equal((await auth.me()).email, 'cyd@new.example.com');
      await refused(client(verify).changeEmail('x@example.com', PASSWORD), 401, 'UNAUTHORIZED');
    });

    test('register in open mode signs in at once; off-mode refusals carry their codes', async () => {
      const auth = client(open);
      const result = await auth.register({ username: 'dee', email: 'dee@example.com', password: PASSWORD });
      assert.equal(result.status, 'signed_in');
      assert.equal(auth.session()?.user.username, 'dee');
      assert.equal((await auth.me()).emailVerified, false);
      await refused(auth.register({ username: 'dee2', email: 'DEE@example.com', password: PASSWORD }), 409, 'CONFLICT');
      const off = await startTestServer({ style });
      try {
        await refused(client(off).register({ username: 'eve', email: 'eve@example.com', password: PASSWORD }), 403, 'SIGNUP_DISABLED');
      } finally {
        await off.close();
      }
    });
  });
}
