import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestSmtp, tokenOf } from './support/smtp.ts';
import { totpCode } from './support/totp.ts';
import { PASSWORD, type Style, type TestServer, claimsOf, errorOf, matrix, startTestServer, tokensOf } from './support/server.ts';

function dataOf(res: { body: any }, style: Style): any {
  return style === 'flat' ? res.body : res.body.data;
}

for (const { style, engine, name } of matrix()) {
  for (const policy of ['optional', 'admins', 'all'] as const) {
    describe(`LATCHKEY_MFA=${policy} (${name})`, () => {
      let server: TestServer;
      before(async () => {
        server = await startTestServer({ style, engine, env: { LATCHKEY_MFA: policy } });
        await server.createUser('boss', { role: 'ADMIN' });
        await server.createUser('worker');
      });
      after(() => server.close());

      for (const username of ['boss', 'worker']) {
        const obliged = policy === 'all' || (policy === 'admins' && username === 'boss');
        test(`${username} without a factor ${obliged ? 'gets an enrolment-only token' : 'signs in as before'}`, async () => {
          const res = await server.request('POST', '/api/auth/login', { body: { username, password: PASSWORD } });
          assert.equal(res.status, 200);
          if (!obliged) {
            assert.deepEqual(claimsOf(tokensOf(res, style).access).amr, ['pwd']);
            return;
          }
          assert.equal(res.headers.get('set-cookie'), null);
          const data = dataOf(res, style);
          assert.deepEqual(Object.keys(data), style === 'flat' ? ['mfa_enrollment_required', 'token'] : ['mfaEnrollmentRequired', 'token']);
          assert.equal(style === 'flat' ? data.mfa_enrollment_required : data.mfaEnrollmentRequired, true);
          const token = data.token as string;
          assert.equal(claimsOf(token).scope, 'mfa_enrollment');
          // Good for /me and enrolment …
          assert.equal((await server.request('GET', '/api/auth/me', { token })).status, 200);
          const begin = await server.request('POST', '/api/auth/mfa/totp', { token, body: { current_password: PASSWORD } });
          assert.equal(begin.status, 200);
          // … and nothing else.
          for (const [method, path] of [
            ['GET', '/api/auth/verify'],
            ['GET', '/api/auth/sessions'],
            ['POST', '/api/auth/logout-all'],
            ['GET', '/api/admin/users'],
          ] as const) {
            const refused = await server.request(method, path, { token });
            assert.equal(refused.status, 403, `${method} ${path}`);
            assert.equal(errorOf(refused, style), style === 'flat' ? 'forbidden' : 'FORBIDDEN');
          }
          // Enrolling a factor turns the next sign-in into the two-step one.
          const secret = dataOf(begin, style).secret as string;
          assert.equal(
            (await server.request('POST', '/api/auth/mfa/totp/confirm', { token, body: { code: totpCode(secret) } })).status,
            200,
          );
          const next = await server.request('POST', '/api/auth/login', { body: { username, password: PASSWORD } });
          assert.deepEqual(dataOf(next, style).methods, ['totp', 'recovery_code']);
          // Logout works with the enrolment-only token.
          assert.equal((await server.request('POST', '/api/auth/logout', { token })).status, 204);
          assert.equal((await server.request('GET', '/api/auth/me', { token })).status, 401);
        });
      }
    });
  }
}

describe('LATCHKEY_MFA=all: a sign-up confirmed by its mailed link', () => {
  let smtp: TestSmtp;
  let server: TestServer;
  before(async () => {
    smtp = await TestSmtp.start();
    server = await startTestServer({ env: { LATCHKEY_MFA: 'all', LATCHKEY_SIGNUP: 'verify', LATCHKEY_SMTP_URL: smtp.url } });
  });
  after(async () => {
    await server?.close();
    await smtp?.stop();
  });

  test('gets the enrolment-only token a password login would, not a session (no cookie)', async () => {
    const registered = await server.request('POST', '/api/auth/register', {
      body: { username: 'newcomer', email: 'newcomer@example.com', password: PASSWORD },
    });
    assert.equal(registered.status, 202, registered.text);
    const res = await server.request('POST', '/api/auth/email/verify', {
      body: { token: tokenOf(await smtp.next('newcomer@example.com')) },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('set-cookie'), null);
    assert.deepEqual(Object.keys(res.body), ['mfa_enrollment_required', 'token']);
    assert.equal(claimsOf(res.body.token).scope, 'mfa_enrollment');
    assert.equal((await server.core.users.getByUsername('newcomer')).emailVerified, true);
    // Good for enrolment, refused elsewhere.
    assert.equal((await server.request('GET', '/api/auth/sessions', { token: res.body.token })).status, 403);
  });
});
