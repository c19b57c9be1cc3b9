import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../src/config.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { PASSWORD, TEST_SECRET, type TestDatabase, claimsOf, createTestDatabase, TEST_ARGON2 } from './support/server.ts';
import { totpCode } from './support/totp.ts';
import { SoftwareAuthenticator } from './support/webauthn.ts';

const PUBLIC_URL = 'https://auth.example.test';

async function post(server: RunningServer, path: string, body: unknown, token?: string): Promise<{ status: number; body: any }> {
  const response = await fetch(server.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

describe(
  'second factors across instances on one PostgreSQL',
  { skip: process.env.TEST_DATABASE_URL ? false : 'TEST_DATABASE_URL is not set' },
  () => {
    let database: TestDatabase;
    let a: RunningServer;
    let b: RunningServer;
    before(async () => {
      database = await createTestDatabase('postgres');
      const env = {
        PORT: '0',
        DATABASE_URL: database.url,
        LATCHKEY_JWT_SECRET: TEST_SECRET,
        LATCHKEY_LIMITS: 'off',
        LOG_LEVEL: 'silent',
        LATCHKEY_PUBLIC_URL: PUBLIC_URL,
      };
      a = await startServer(parseConfig(env), { logger: false, argon2Cost: TEST_ARGON2 });
      b = await startServer(parseConfig(env), { logger: false, argon2Cost: TEST_ARGON2 });
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await database?.drop();
    });

    test('an mfa_token and a passkey challenge issued by one instance are finished on the other, once', async () => {
      await a.core.accounts.create({ username: 'ada', password: PASSWORD, role: 'STANDARD', email: null });
      const token = (await post(a, '/api/auth/login', { username: 'ada', password: PASSWORD })).body.token as string;
      const secret = (await post(a, '/api/auth/mfa/totp', { current_password: PASSWORD }, token)).body.secret as string;
      assert.equal((await post(b, '/api/auth/mfa/totp/confirm', { code: totpCode(secret) }, token)).status, 200);

      const mfaToken = (await post(a, '/api/auth/login', { username: 'ada', password: PASSWORD })).body.mfa_token as string;
      const code = totpCode(secret, 1);
      const onB = await post(b, '/api/auth/mfa/verify', { mfa_token: mfaToken, code });
      assert.equal(onB.status, 200);
      assert.deepEqual(claimsOf(onB.body.token).amr, ['pwd', 'otp']);
      // Spent on B, refused on A; and the code itself is spent for every instance.
      assert.equal((await post(a, '/api/auth/mfa/verify', { mfa_token: mfaToken, code })).status, 401);
      const another = (await post(b, '/api/auth/login', { username: 'ada', password: PASSWORD })).body.mfa_token as string;
      const replay = await post(a, '/api/auth/mfa/verify', { mfa_token: another, code });
      assert.deepEqual([replay.status, replay.body], [401, { error: 'invalid code' }]);

      // A passkey registered through A, signed in with through B, with options from A.
      const authenticator = new SoftwareAuthenticator('auth.example.test', PUBLIC_URL);
      const access = onB.body.token as string;
      const options = (await post(a, '/api/auth/passkeys/register/options', {}, access)).body;
      assert.equal((await post(b, '/api/auth/passkeys/register', { credential: authenticator.register(options) }, access)).status, 201);
      const login = (await post(a, '/api/auth/passkeys/login/options', {})).body;
      const assertion = authenticator.assert(login);
      assert.equal((await post(b, '/api/auth/passkeys/login', { challenge_id: login.challenge_id, credential: assertion })).status, 200);
      assert.equal((await post(a, '/api/auth/passkeys/login', { challenge_id: login.challenge_id, credential: assertion })).status, 401);
    });
  },
);
