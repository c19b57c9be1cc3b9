/**
 * Accounts by email (SPEC §10), the way back in and the way to move: forgotten password and reset (links that
 * work once, the newer voiding the older, sessions revoked) and email change, over real HTTP, a real database
 * and a real SMTP server. Sign-up and verification are in accounts-email.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hashLinkToken } from '../src/auth/email-links.ts';
import { PASSWORD, claimsOf, errorOf, matrix, tokensOf } from './support/server.ts';
import { tokenOf } from './support/smtp.ts';
import { totpCode } from './support/totp.ts';
import { NEW_PASSWORD, assertWellFormed, expectedError, outboxTo, statusOf, verifyModeServer, waitFor } from './support/accounts-email.ts';

for (const { style, engine, name } of matrix()) {
  describe(`accounts by email, verify mode: reset and email change (${name})`, () => {
    const env = verifyModeServer(style, engine);
    const err = (flatSentence: string, code: string) => expectedError(style, flatSentence, code);
    const post = (path: string, body: unknown, token?: string) =>
      env.server.request('POST', `/api/auth${path}`, { body, ...(token === undefined ? {} : { token }) });
    /** Asks to move a signed-in user's address from `from` to `to`; the token of the link `to` gets. */
    const changeLink = async (access: string, from: string, to: string): Promise<string> => {
      const change = await post(
        '/email/change',
        { new_email: to, current_password: PASSWORD, newEmail: to, currentPassword: PASSWORD },
        access,
      );
      assert.equal(change.status, 202, change.text);
      await env.smtp.next(from); // the notice to the old address
      return tokenOf(await env.smtp.next(to));
    };

    test('forgot: 202 for unknown email and username; reset sets the password, revokes every session, and the link works once', async () => {
      await env.server.createUser('fay', { email: 'fay@example.com' });
      const before1 = await env.server.login('fay');
      const before2 = await env.server.login('fay');

      for (const body of [{ email: 'ghost@example.com' }, { username: 'ghost' }]) {
        const res = await post('/password/forgot', body);
        assert.equal(res.status, 202);
        assert.deepEqual(statusOf(res, style), { status: 'reset_sent' });
      }
      const res = await post('/password/forgot', { username: 'FAY' });
      assert.equal(res.status, 202);
      assert.deepEqual(statusOf(res, style), { status: 'reset_sent' });
      const mail = await env.smtp.next('fay@example.com');
      assertWellFormed(mail);
      assert.match(mail.text, /\/ui\/reset-password\?token=/);
      const token = tokenOf(mail);

      // A refused password does not spend the link.
      const weak = await post('/password/reset', { token, new_password: 'short' });
      assert.equal(weak.status, 400);
      // A reset token never verifies an address.
      const wrongPurpose = await post('/email/verify', { token });
      assert.equal(wrongPurpose.status, 400);
      assert.equal(errorOf(wrongPurpose, style), err('invalid or expired token', 'INVALID_TOKEN'));

      const key = style === 'flat' ? 'new_password' : 'newPassword';
      const done = await post('/password/reset', { token, [key]: NEW_PASSWORD });
      assert.equal(done.status, 204, done.text);
      assert.equal(done.text, '');

      for (const session of [before1, before2]) {
        assert.equal((await env.server.request('GET', '/api/auth/me', { token: session.access })).status, 401);
        assert.equal((await post('/refresh', { refresh_token: session.refresh })).status, 401);
      }
      assert.equal((await post('/login', { username: 'fay', password: PASSWORD })).status, 401);
      assert.equal((await post('/login', { username: 'fay', password: NEW_PASSWORD })).status, 200);

      const again = await post('/password/reset', { token, [key]: 'yet-another-passphrase-9' });
      assert.equal(again.status, 400);
      assert.equal(errorOf(again, style), err('invalid or expired token', 'INVALID_TOKEN'));
      assert.equal(env.smtp.messagesTo('ghost@example.com').length, 0);
      const types = (await env.server.core.audit.list({ type: 'password_reset' })).items.length;
      assert.ok(types >= 1);
    });

    test('a reset counts the address as verified; a verification token never resets a password', async () => {
      await post('/register', { username: 'gus', email: 'gus@example.com', password: PASSWORD });
      const verifyToken = tokenOf(await env.smtp.next('gus@example.com'));
      const key = style === 'flat' ? 'new_password' : 'newPassword';
      const wrongPurpose = await post('/password/reset', { token: verifyToken, [key]: NEW_PASSWORD });
      assert.equal(wrongPurpose.status, 400);
      assert.equal(errorOf(wrongPurpose, style), err('invalid or expired token', 'INVALID_TOKEN'));

      await post('/password/forgot', { email: 'gus@example.com' });
      const resetToken = tokenOf(await env.smtp.next('gus@example.com'));
      assert.equal((await post('/password/reset', { token: resetToken, [key]: NEW_PASSWORD })).status, 204);
      assert.equal((await post('/login', { username: 'gus', password: NEW_PASSWORD })).status, 200);
    });

    test('a newer reset link voids the older one; an expired link is refused', async () => {
      await env.server.createUser('hal', { email: 'hal@example.com' });
      await post('/password/forgot', { email: 'hal@example.com' });
      const older = tokenOf(await env.smtp.next('hal@example.com'));
      await post('/password/forgot', { email: 'hal@example.com' });
      const newer = tokenOf(await env.smtp.next('hal@example.com'));
      const key = style === 'flat' ? 'new_password' : 'newPassword';
      assert.equal((await post('/password/reset', { token: older, [key]: NEW_PASSWORD })).status, 400);

      await env.server.core.store.db
        .updateTable('link_tokens')
        .set({ expires_at: Date.now() - 1 })
        .where('token_hash', '=', hashLinkToken(newer))
        .execute();
      const expired = await post('/password/reset', { token: newer, [key]: NEW_PASSWORD });
      assert.equal(expired.status, 400);
      assert.equal(errorOf(expired, style), err('invalid or expired token', 'INVALID_TOKEN'));
      assert.equal((await post('/login', { username: 'hal', password: PASSWORD })).status, 200);
    });

    test('email change needs the Bearer token and the current password; the new address confirms, the old one is told', async () => {
      await env.server.createUser('ivy', { email: 'ivy@example.com' });
      const { access } = await env.server.login('ivy');
      const body = (newEmail: string, current: string) =>
        style === 'flat' ? { new_email: newEmail, current_password: current } : { newEmail, currentPassword: current };

      const anonymous = await post('/email/change', body('ivy@new.example.com', PASSWORD));
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
      const wrong = await post('/email/change', body('ivy@new.example.com', 'not-the-password'), access);
      assert.equal(wrong.status, 403);
      assert.equal(errorOf(wrong, style), err('current password is incorrect', 'FORBIDDEN'));
      const same = await post('/email/change', body('IVY@example.com', PASSWORD), access);
      assert.equal(same.status, 400);

      const res = await post('/email/change', body('ivy@new.example.com', PASSWORD), access);
      assert.equal(res.status, 202, res.text);
      assert.deepEqual(statusOf(res, style), { status: 'verification_sent' });
      const link = await env.smtp.next('ivy@new.example.com');
      assertWellFormed(link);
      const notice = await env.smtp.next('ivy@example.com');
      assertWellFormed(notice);
      assert.doesNotMatch(notice.text, /token=/);
      // Nothing changes until the link is used.
      assert.equal((await env.server.core.users.findByUsername('ivy'))?.email, 'ivy@example.com');

      const verified = await post('/email/verify', { token: tokenOf(link) });
      assert.equal(verified.status, 200);
      const user = await env.server.core.users.findByUsername('ivy');
      assert.equal(user?.email, 'ivy@new.example.com');
      assert.equal(user?.emailVerified, true);
      const types = (await env.server.core.audit.list({ userId: user?.id ?? 0 })).items.map((e) => e.type);
      assert.ok(types.includes('email_change_requested') && types.includes('email_changed'), types.join());
    });

    test('a reset link mailed before an email change, or before the account was disabled, no longer works', async () => {
      await env.server.createUser('lou', { email: 'lou@example.com' });
      const key = style === 'flat' ? 'new_password' : 'newPassword';
      const resetLink = async (): Promise<string> => {
        assert.equal((await post('/password/forgot', { username: 'lou' })).status, 202);
        return tokenOf(await env.smtp.next('lou@example.com'));
      };
      // Asked for while lou@example.com was the address; the address moves before the link is used.
      const beforeChange = await resetLink();
      const { access } = await env.server.login('lou');
      assert.equal(
        (await post('/email/verify', { token: await changeLink(access, 'lou@example.com', 'lou@new.example.com') })).status,
        200,
      );
      const refused = await post('/password/reset', { token: beforeChange, [key]: NEW_PASSWORD });
      assert.equal(refused.status, 400);
      assert.equal(errorOf(refused, style), err('invalid or expired token', 'INVALID_TOKEN'));
      assert.equal((await post('/login', { username: 'lou', password: PASSWORD })).status, 200);

      // The change voided it: the address moving back (as an admin may do) does not revive it.
      const lou = await env.server.core.users.findByUsername('lou');
      assert.ok(lou);
      await env.server.core.users.update(lou.id, { email: 'lou@example.com' });
      assert.equal((await post('/password/reset', { token: beforeChange, [key]: NEW_PASSWORD })).status, 400);
      // A link mailed before an admin moves the address is void too; one to a disabled account does nothing.
      const beforeAdminMove = await resetLink();
      await env.server.core.users.update(lou.id, { email: 'lou@elsewhere.example.com' });
      assert.equal((await post('/password/reset', { token: beforeAdminMove, [key]: NEW_PASSWORD })).status, 400);
      await env.server.core.users.update(lou.id, { email: 'lou@example.com' });
      const beforeDisable = await resetLink();
      await env.server.core.users.update(lou.id, { disabled: true });
      assert.equal((await post('/password/reset', { token: beforeDisable, [key]: NEW_PASSWORD })).status, 400);
      await env.server.core.users.update(lou.id, { disabled: false });
      assert.equal((await post('/login', { username: 'lou', password: PASSWORD })).status, 200);
    });

    test('a user with a second factor who follows an email-change link gets the second step, not a session', async () => {
      await env.server.createUser('max', { email: 'max@example.com' });
      const { access } = await env.server.login('max');
      const data = (res: { body: Record<string, unknown> }) => (style === 'flat' ? res.body : (res.body.data as Record<string, unknown>));
      const begin = await env.server.request('POST', '/api/auth/mfa/totp', { token: access, body: { current_password: PASSWORD } });
      assert.equal(begin.status, 200, begin.text);
      const secret = data(begin).secret as string;
      assert.equal((await post('/mfa/totp/confirm', { code: totpCode(secret) }, access)).status, 200);

      const verified = await post('/email/verify', { token: await changeLink(access, 'max@example.com', 'max@new.example.com') });
      assert.equal(verified.status, 200, verified.text);
      // The login body of a user with a factor: no tokens, no cookie; the address has changed all the same.
      const pending = data(verified);
      const [flag, tokenKey] = style === 'flat' ? ['mfa_required', 'mfa_token'] : ['mfaRequired', 'mfaToken'];
      assert.deepEqual(Object.keys(pending), [flag, tokenKey, 'methods']);
      assert.equal(pending[flag], true);
      assert.deepEqual(pending.methods, ['totp', 'recovery_code']);
      assert.equal(verified.headers.get('set-cookie'), null);
      assert.equal((await env.server.core.users.findByUsername('max'))?.email, 'max@new.example.com');

      const finished = await post('/mfa/verify', { mfa_token: pending[tokenKey], code: totpCode(secret, 1) });
      assert.equal(finished.status, 200, finished.text);
      assert.deepEqual(claimsOf(tokensOf(finished, style).access).amr, ['pwd', 'otp']);
    });

    test('email change to an address another account has: the same 202, and no mail to that account', async () => {
      await env.server.createUser('jay', { email: 'jay@example.com' });
      await env.server.createUser('kim', { email: 'kim@example.com' });
      const { access } = await env.server.login('jay');
      const res = await post(
        '/email/change',
        { new_email: 'kim@example.com', current_password: PASSWORD, newEmail: 'kim@example.com', currentPassword: PASSWORD },
        access,
      );
      assert.equal(res.status, 202);
      await env.smtp.next('jay@example.com'); // the notice to the old address
      await waitFor(async () => (await outboxTo(env.server, 'kim@example.com')).every((r) => r.status === 'discarded'));
      assert.equal(env.smtp.messagesTo('kim@example.com').length, 0);
    });
  });
}
