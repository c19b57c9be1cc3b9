import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
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
