import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { totpCode } from './support/totp.ts';
import { PASSWORD, type Style, type TestServer, errorOf, matrix, startTestServer } from './support/server.ts';

function dataOf(res: { body: any }, style: Style): any {
  return style === 'flat' ? res.body : res.body.data;
}

for (const { style, engine, name } of matrix()) {
  describe(`second-step rate limits (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({
        style,
        engine,
        env: {
          LATCHKEY_LIMITS: 'on',
          LATCHKEY_LIMIT_LOGIN_PAIR: '3/15m',
          LATCHKEY_LIMIT_LOGIN_PER_ADDRESS: '100/1m',
          LATCHKEY_PUBLIC_URL: 'https://auth.example.test',
        },
      });
    });
    after(() => server.close());

    /** A user with confirmed TOTP, signed in; its secret, and a code that is none of the currently valid ones. */
    async function withTotp(username: string): Promise<{ userId: number; access: string; secret: string; wrong: string }> {
      const user = await server.createUser(username);
      const { access } = await server.login(username);
      const secret = dataOf(
        await server.request('POST', '/api/auth/mfa/totp', { token: access, body: { current_password: PASSWORD } }),
        style,
      ).secret as string;
      assert.equal(
        (await server.request('POST', '/api/auth/mfa/totp/confirm', { token: access, body: { code: totpCode(secret) } })).status,
        200,
      );
      const valid = new Set([-1, 0, 1].map((d) => totpCode(secret, d)));
      return { userId: user.id, access, secret, wrong: ['111111', '222222', '333333', '444444'].find((c) => !valid.has(c))! };
    }

    test('/mfa/verify counts failures like login: the pair is blocked (429 + Retry-After) even for a right code', async () => {
      const { secret, wrong } = await withTotp('limited');
      const login = await server.request('POST', '/api/auth/login', { body: { username: 'limited', password: PASSWORD } });
      const mfaToken = dataOf(login, style)[style === 'flat' ? 'mfa_token' : 'mfaToken'];
      for (let i = 0; i < 3; i++)
        assert.equal((await server.request('POST', '/api/auth/mfa/verify', { body: { mfa_token: mfaToken, code: wrong } })).status, 401);
      const blocked = await server.request('POST', '/api/auth/mfa/verify', { body: { mfa_token: mfaToken, code: totpCode(secret, 1) } });
      assert.equal(blocked.status, 429);
      assert.equal(errorOf(blocked, style), style === 'flat' ? 'Too many requests. Please try again later.' : 'RATE_LIMITED');
      assert.match(blocked.headers.get('retry-after') ?? '', /^\d+$/);
    });

    test("a signed-in user's code for turning TOTP off or for new recovery codes is limited and audited like the second step", async () => {
      const { userId, access, secret, wrong } = await withTotp('guessed');
      // Three wrong codes, over both endpoints, spend the pair's budget (3 here).
      for (const [method, path] of [
        ['DELETE', '/api/auth/mfa/totp'],
        ['POST', '/api/auth/mfa/recovery-codes'],
        ['DELETE', '/api/auth/mfa/totp'],
      ] as const) {
        const res = await server.request(method, path, { token: access, body: { code: wrong } });
        assert.equal(res.status, 401, `${method} ${path}: ${res.text}`);
      }
      for (const [method, path] of [
        ['POST', '/api/auth/mfa/recovery-codes'],
        ['DELETE', '/api/auth/mfa/totp'],
      ] as const) {
        const blocked = await server.request(method, path, { token: access, body: { code: totpCode(secret, 1) } });
        assert.equal(blocked.status, 429, `${method} ${path}: ${blocked.text}`);
        assert.match(blocked.headers.get('retry-after') ?? '', /^\d+$/);
      }
      assert.equal(await server.core.mfa.totp.enabled(userId), true);
      const failures = (await server.core.audit.list({ userId })).items.filter((e) => e.type === 'mfa_failed');
      assert.equal(failures.length, 3);
    });

    test('failed passkey sign-ins are counted per credential and address', async () => {
      const attempt = async () => {
        const options = dataOf(await server.request('POST', '/api/auth/passkeys/login/options', { body: {} }), style);
        const challengeId = style === 'flat' ? options.challenge_id : options.challengeId;
        // A credential nobody registered: refused, and counted.
        const credential = {
          id: 'AAAA',
          rawId: 'AAAA',
          type: 'public-key',
          response: { clientDataJSON: 'e30', authenticatorData: 'AA', signature: 'AA' },
          clientExtensionResults: {},
        };
        return server.request('POST', '/api/auth/passkeys/login', { body: { challenge_id: challengeId, credential } });
      };
      for (let i = 0; i < 3; i++) assert.equal((await attempt()).status, 401);
      const blocked = await attempt();
      assert.equal(blocked.status, 429);
    });
  });
}
