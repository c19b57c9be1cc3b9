import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestBrowser, type TestProvider, startTestProvider } from './support/oidc.ts';
import { type Style, type TestServer, claimsOf, matrix, startTestServer, tokensOf } from './support/server.ts';
import { SoftwareAuthenticator } from './support/webauthn.ts';

const APP = 'http://app.example.test';
const GOOGLE = { client_id: 'latchkey-google', client_secret: 'google-secret-for-tests' };
const PUBLIC_URL = 'https://auth.example.test';

let google: TestProvider;
before(async () => {
  google = await startTestProvider({ clients: [GOOGLE], claimsInIdToken: true });
});
after(async () => {
  await google?.close();
});

function dataOf(res: { body: any }, style: Style): any {
  return style === 'flat' ? res.body : res.body.data;
}

for (const { style, engine, name } of matrix()) {
  describe(`Google sign-in with a second factor (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({
        style,
        engine,
        env: {
          LATCHKEY_GOOGLE_CLIENT_ID: GOOGLE.client_id,
          LATCHKEY_GOOGLE_CLIENT_SECRET: GOOGLE.client_secret,
          LATCHKEY_GOOGLE_ISSUER: google.issuer,
          LATCHKEY_ALLOWED_REDIRECTS: APP,
          LATCHKEY_PUBLIC_URL: PUBLIC_URL,
        },
      });
    });
    after(() => server.close());

    test('a Google sign-in carries amr ["fed"]; once a passkey is added it goes through the second step (API and browser flows)', async () => {
      const person = { sub: `sub-mfa-${Date.now()}`, email: 'mfa.person@gmail.test', email_verified: true };
      google.accounts.set(person.sub, person);
      const first = await server.request('POST', '/api/auth/google', {
        body: { id_token: await google.signIdToken({ ...person, jti: randomUUID() }) },
      });
      assert.equal(first.status, 200, first.text);
      const { access } = tokensOf(first, style);
      assert.deepEqual(claimsOf(access).amr, ['fed']);

      const authenticator = new SoftwareAuthenticator('auth.example.test', PUBLIC_URL);
      const options = dataOf(await server.request('POST', '/api/auth/passkeys/register/options', { token: access }), style);
      assert.equal(
        (
          await server.request('POST', '/api/auth/passkeys/register', {
            token: access,
            body: { credential: authenticator.register(options) },
          })
        ).status,
        201,
      );

      // API flow: mfa_required, no tokens, no cookie.
      const second = await server.request('POST', '/api/auth/google', {
        body: { id_token: await google.signIdToken({ ...person, jti: randomUUID() }) },
      });
      assert.equal(second.status, 200);
      assert.equal(second.headers.get('set-cookie'), null);
      const pending = dataOf(second, style);
      assert.deepEqual(pending.methods, ['passkey']);
      const mfaToken = style === 'flat' ? pending.mfa_token : pending.mfaToken;
      const opts = dataOf(await server.request('POST', '/api/auth/mfa/passkey/options', { body: { mfa_token: mfaToken } }), style);
      const done = await server.request('POST', '/api/auth/mfa/verify', {
        body: { mfa_token: mfaToken, credential: authenticator.assert(opts) },
      });
      assert.equal(done.status, 200, done.text);
      assert.deepEqual(claimsOf(tokensOf(done, style).access).amr, ['fed', 'hwk']);

      // Browser flow: the redirect carries #mfa_token=… and no refresh cookie is set.
      const browser = new TestBrowser();
      const start = await browser.get(`${server.url}/api/auth/google/login?redirect_to=${encodeURIComponent(`${APP}/after`)}`);
      assert.equal(start.status, 302);
      const back = await browser.get(await browser.authorizeAt(google, start.location as string, person.sub));
      assert.equal(back.status, 302, back.text);
      const location = new URL(back.location as string);
      assert.equal(`${location.origin}${location.pathname}`, `${APP}/after`);
      const fragment = new URLSearchParams(location.hash.slice(1));
      assert.equal(fragment.get('methods'), 'passkey');
      const browserToken = fragment.get('mfa_token');
      assert.ok(browserToken);
      assert.equal(browser.cookies(server.url).get('latchkey_refresh'), undefined);
      const opts2 = dataOf(await server.request('POST', '/api/auth/mfa/passkey/options', { body: { mfaToken: browserToken } }), style);
      const finished = await server.request('POST', '/api/auth/mfa/verify', {
        body: { mfaToken: browserToken, credential: authenticator.assert(opts2) },
      });
      assert.equal(finished.status, 200, finished.text);
    });
  });
}

describe('Google sign-in under LATCHKEY_MFA=all', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      env: {
        LATCHKEY_GOOGLE_CLIENT_ID: GOOGLE.client_id,
        LATCHKEY_GOOGLE_CLIENT_SECRET: GOOGLE.client_secret,
        LATCHKEY_GOOGLE_ISSUER: google.issuer,
        LATCHKEY_ALLOWED_REDIRECTS: APP,
        LATCHKEY_MFA: 'all',
      },
    });
  });
  after(() => server.close());

  test('a user without a factor gets an enrolment-only token: in the body (API) or the fragment (browser)', async () => {
    const person = { sub: `sub-enrol-${Date.now()}`, email: 'enrol.person@gmail.test', email_verified: true };
    google.accounts.set(person.sub, person);
    const api = await server.request('POST', '/api/auth/google', {
      body: { id_token: await google.signIdToken({ ...person, jti: randomUUID() }) },
    });
    assert.equal(api.status, 200);
    assert.deepEqual(Object.keys(api.body), ['mfa_enrollment_required', 'token']);
    assert.equal(claimsOf(api.body.token).scope, 'mfa_enrollment');
    assert.deepEqual(claimsOf(api.body.token).amr, ['fed']);

    const browser = new TestBrowser();
    const start = await browser.get(`${server.url}/api/auth/google/login?redirect_to=${encodeURIComponent(`${APP}/after`)}`);
    const back = await browser.get(await browser.authorizeAt(google, start.location as string, person.sub));
    assert.equal(back.status, 302);
    const token = new URLSearchParams(new URL(back.location as string).hash.slice(1)).get('mfa_enrollment_token');
    assert.equal(claimsOf(token ?? '').scope, 'mfa_enrollment');
    assert.equal(browser.cookies(server.url).get('latchkey_refresh'), undefined);
    assert.equal((await server.request('GET', '/api/auth/sessions', { token: token ?? '' })).status, 403);
  });
});
