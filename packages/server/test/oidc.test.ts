import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestBrowser, type TestProvider, startTestProvider } from './support/oidc.ts';
import {
  type HttpResult,
  PASSWORD,
  type Style,
  type TestServer,
  claimsOf,
  errorOf,
  matrix,
  startTestServer,
  tokensOf,
} from './support/server.ts';

const APP = 'http://app.example.test';
const GOOGLE = { client_id: 'latchkey-google', client_secret: 'google-secret-for-tests' };
const OTHER_APP = { client_id: 'another-app', client_secret: 'another-secret-for-tests' };
const ACME = { client_id: 'latchkey-acme', client_secret: 'acme-secret-for-tests' };

let google: TestProvider;
let acme: TestProvider;
let counter = 0;

/** A fresh account at a provider: a unique subject and email. */
function account(provider: TestProvider, claims: { email?: string; email_verified?: boolean | string; hd?: string } = {}) {
  counter += 1;
  const sub = `sub-${counter}-${Date.now()}`;
  const entry = { sub, email: `person${counter}@gmail.test`, email_verified: true, ...claims };
  provider.accounts.set(sub, entry);
  return entry;
}

function errorParam(location: string | undefined): string | null {
  return location === undefined ? null : new URL(location).searchParams.get('error');
}

/** The error of a response: the flat sentence or the envelope code, for the refusal `reason`. */
function refusal(result: { body: any }, style: Style): string {
  return style === 'flat' ? result.body.error : result.body.error.code;
}

before(async () => {
  google = await startTestProvider({ clients: [GOOGLE, OTHER_APP], claimsInIdToken: true });
  acme = await startTestProvider({ clients: [ACME] });
});
after(async () => {
  await google?.close();
  await acme?.close();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    LATCHKEY_GOOGLE_CLIENT_ID: GOOGLE.client_id,
    LATCHKEY_GOOGLE_CLIENT_SECRET: GOOGLE.client_secret,
    LATCHKEY_GOOGLE_ISSUER: google.issuer,
    LATCHKEY_ALLOWED_REDIRECTS: `${APP},https://other.example.test`,
    LATCHKEY_OIDC_PROVIDERS: JSON.stringify([
      { id: 'acme', name: 'Acme SSO', issuer: acme.issuer, client_id: ACME.client_id, client_secret: ACME.client_secret },
      // Nothing listens on port 9 of this machine: a provider that cannot be reached.
      { id: 'down', issuer: 'http://127.0.0.1:9', client_id: 'x', client_secret: 'y' },
    ]),
    ...extra,
  };
}

for (const { style, engine, name } of matrix()) {
  describe(`OpenID sign-in (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine, env: env() });
    });
    after(() => server.close());

    const db = () => server.core.store.db;
    const identityOf = (issuer: string, subject: string) =>
      db().selectFrom('identities').selectAll().where('issuer', '=', issuer).where('subject', '=', subject).executeTakeFirst();
    const auditTypes = async (userId: number) =>
      (await db().selectFrom('audit_events').select('type').where('user_id', '=', userId).orderBy('id').execute()).map((r) => r.type);

    /** GET …/login in a fresh browser; returns the browser, the response and the provider URL. */
    async function startLogin(path = '/api/auth/google/login', redirectTo: string | null = `${APP}/after?tab=2`) {
      const browser = new TestBrowser();
      const query = redirectTo === null ? '' : `?redirect_to=${encodeURIComponent(redirectTo)}`;
      const res = await browser.get(server.url + path + query);
      assert.equal(res.status, 302, res.text);
      return { browser, res, location: res.location as string };
    }

    async function userBySub(issuer: string, sub: string) {
      const identity = await identityOf(issuer, sub);
      assert.ok(identity, 'identity stored');
      return server.core.users.getById(identity.user_id);
    }

    test('login redirects to the provider with state, nonce and PKCE S256, keeping the transaction in a Lax HttpOnly cookie', async () => {
      const { res, location } = await startLogin();
      const url = new URL(location);
      assert.equal(url.origin, google.issuer);
      assert.equal(url.searchParams.get('response_type'), 'code');
      assert.equal(url.searchParams.get('client_id'), GOOGLE.client_id);
      assert.equal(url.searchParams.get('redirect_uri'), `${server.url}/api/auth/google/callback`);
      assert.deepEqual(url.searchParams.get('scope')?.split(' '), ['openid', 'email', 'profile']);
      assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
      assert.match(url.searchParams.get('code_challenge') ?? '', /^[\w-]{43}$/);
      assert.match(url.searchParams.get('state') ?? '', /^[\w-]{43}$/);
      assert.match(url.searchParams.get('nonce') ?? '', /^[\w-]{43}$/);
      assert.notEqual(url.searchParams.get('state'), url.searchParams.get('nonce'));
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('latchkey_oidc_google='));
      assert.ok(cookie, 'transaction cookie');
      assert.match(cookie, /; Max-Age=600/);
      assert.match(cookie, /; Path=\/api\/auth/);
      assert.match(cookie, /; HttpOnly/);
      assert.match(cookie, /; SameSite=Lax/);
      // The verifier and the state never travel in the clear beside their challenge: only inside the signed cookie.
      assert.doesNotMatch(location, new RegExp(cookie.split('=')[1]?.split('.')[0] ?? 'x'));
    });

    test('the full browser flow creates a STANDARD user without a password, sets the refresh cookie and returns to redirect_to', async () => {
      const person = account(google, { email: `new.comer+${style}${engine}@gmail.test` });
      const { browser, location } = await startLogin();
      const callback = await browser.authorizeAt(google, location, person.sub);
      assert.ok(callback.startsWith(`${server.url}/api/auth/google/callback?`), callback);
      const res = await browser.get(callback);
      assert.equal(res.status, 302, res.text);
      assert.equal(res.location, `${APP}/after?tab=2`);
      assert.equal(res.text, '');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const setCookies = res.headers.getSetCookie();
      assert.ok(
        setCookies.some((c) => /^latchkey_oidc_google=;/.test(c)),
        'transaction cookie cleared',
      );
      const refreshCookie = setCookies.find((c) => c.startsWith('latchkey_refresh='));
      assert.match(refreshCookie ?? '', /HttpOnly/);

      const user = await userBySub(google.issuer, person.sub);
      assert.equal(user.username, `new.comer${style}${engine}`);
      assert.equal(user.email, person.email);
      assert.equal(user.role, 'STANDARD');
      assert.equal(user.passwordHash, null);
      assert.notEqual(user.lastLoginAt, null);
      assert.deepEqual(await auditTypes(user.id), ['oidc_user_created', 'oidc_sign_in']);

      // The refresh cookie is a working session.
      const refreshed = await browser.request('POST', `${server.url}/api/auth/refresh`);
      assert.equal(refreshed.status, 200, refreshed.text);
      const claims = claimsOf(tokensOf(refreshed as unknown as HttpResult, style).access);
      assert.equal(claims.user_id, user.id);
      assert.equal(claims.role, 'STANDARD');

      // A Google-only account has no password: the generic 401 of login.
      const login = await server.request('POST', '/api/auth/login', { body: { username: user.username, password: PASSWORD } });
      assert.equal(login.status, 401);
      assert.equal(errorOf(login, style), style === 'flat' ? 'invalid username or password' : 'INVALID_CREDENTIALS');
    });

    test('a replayed callback (same state, same cookie) is refused and signs nobody in', async () => {
      const person = account(google);
      const { browser, location } = await startLogin();
      const callback = await browser.authorizeAt(google, location, person.sub);
      const transaction = browser.cookies(server.url).get('latchkey_oidc_google') as string;
      assert.equal((await browser.get(callback)).status, 302);
      const sessionsBefore = await db().selectFrom('sessions').select('id').execute();

      browser.cookies(server.url).set('latchkey_oidc_google', transaction);
      browser.cookies(server.url).delete('latchkey_refresh');
      const replay = await browser.get(callback);
      assert.equal(replay.status, 302);
      assert.equal(replay.location, `${APP}/after?tab=2&error=invalid_state`);
      assert.equal(browser.cookies(server.url).get('latchkey_refresh'), undefined);
      assert.equal((await db().selectFrom('sessions').select('id').execute()).length, sessionsBefore.length);
    });

    test('a state that does not match the cookie is refused', async () => {
      const person = account(google);
      const { browser, location } = await startLogin();
      const callback = new URL(await browser.authorizeAt(google, location, person.sub));
      callback.searchParams.set('state', 'x'.repeat(43));
      const res = await browser.get(callback.href);
      assert.equal(res.status, 302);
      assert.equal(errorParam(res.location), 'invalid_state');
      assert.equal(await identityOf(google.issuer, person.sub), undefined);
    });

    test('a callback without the transaction cookie, or with a forged one, answers the error in the style (no safe place to go)', async () => {
      const person = account(google);
      const { browser, location } = await startLogin();
      const callback = await browser.authorizeAt(google, location, person.sub);
      const cookie = browser.cookies(server.url).get('latchkey_oidc_google') as string;
      for (const value of [undefined, `${cookie}x`, cookie.replace(/^[^.]+/, Buffer.from('{"p":"google"}').toString('base64url'))]) {
        const stranger = new TestBrowser();
        if (value !== undefined) stranger.cookies(server.url).set('latchkey_oidc_google', value);
        const res = await stranger.get(callback);
        assert.equal(res.status, 400, res.text);
        assert.equal(res.location, undefined);
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
        assert.equal(
          refusal(res, style),
          style === 'flat' ? 'the sign-in state is missing, expired, already used or does not match' : 'INVALID_STATE',
        );
      }
    });

    test('a transaction cookie is bound to its provider', async () => {
      const { browser } = await startLogin('/api/auth/oidc/acme/login');
      const acmeTransaction = browser.cookies(server.url).get('latchkey_oidc_acme') as string;
      const other = new TestBrowser();
      other.cookies(server.url).set('latchkey_oidc_google', acmeTransaction);
      const res = await other.get(`${server.url}/api/auth/google/callback?code=abc&state=def`);
      assert.equal(res.status, 400);
      assert.equal(
        refusal(res, style),
        style === 'flat' ? 'the sign-in state is missing, expired, already used or does not match' : 'INVALID_STATE',
      );
    });

    test('an ID token carrying another nonce than the transaction is refused', async () => {
      const person = account(google);
      const { browser, location } = await startLogin();
      const tampered = new URL(location);
      tampered.searchParams.set('nonce', 'an-injected-nonce');
      const callback = await browser.authorizeAt(google, tampered.href, person.sub);
      const res = await browser.get(callback);
      assert.equal(res.status, 302);
      assert.equal(errorParam(res.location), 'invalid_id_token');
      assert.equal(await identityOf(google.issuer, person.sub), undefined);
    });

    test('the provider refusing access comes back as ?error=access_denied', async () => {
      const { browser, location } = await startLogin();
      const state = new URL(location).searchParams.get('state') as string;
      const denied = new URL(`${server.url}/api/auth/google/callback`);
      denied.search = new URLSearchParams({ error: 'access_denied', state, iss: google.issuer }).toString();
      const res = await browser.get(denied.href);
      assert.equal(res.status, 302);
      assert.equal(res.location, `${APP}/after?tab=2&error=access_denied`);
    });

    test('an unverified email is refused; without redirect_to the refusal is answered in the style', async () => {
      const person = account(google, { email_verified: false });
      const { browser, location } = await startLogin('/api/auth/google/login', null);
      const res = await browser.get(await browser.authorizeAt(google, location, person.sub));
      assert.equal(res.status, 403, res.text);
      assert.equal(res.location, undefined);
      assert.equal(
        refusal(res, style),
        style === 'flat' ? 'the identity provider has not verified the email address' : 'EMAIL_NOT_VERIFIED',
      );
      assert.equal(await identityOf(google.issuer, person.sub), undefined);
      assert.equal(await server.core.users.findByUsername(person.email.split('@')[0] as string), undefined);
    });

    test('without redirect_to a successful callback answers the token body of login', async () => {
      const person = account(google);
      const { browser, location } = await startLogin('/api/auth/google/login', null);
      const res = await browser.get(await browser.authorizeAt(google, location, person.sub));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const { access } = tokensOf(res as unknown as HttpResult, style);
      assert.equal(claimsOf(access).user_id, (await userBySub(google.issuer, person.sub)).id);
    });

    test('redirect_to outside LATCHKEY_ALLOWED_REDIRECTS is refused before anything, and never redirected to', async () => {
      for (const target of [
        'https://evil.example/steal',
        'http://app.example.test.evil.example/',
        '//evil.example/x',
        'javascript:alert(1)',
        '/relative',
      ]) {
        const browser = new TestBrowser();
        const res = await browser.get(`${server.url}/api/auth/google/login?redirect_to=${encodeURIComponent(target)}`);
        assert.equal(res.status, 400, target);
        assert.equal(res.location, undefined);
        assert.deepEqual(res.headers.getSetCookie(), []);
        assert.equal(refusal(res, style), style === 'flat' ? 'redirect_to is not an allowed origin' : 'REDIRECT_NOT_ALLOWED');
      }
      const ok = await new TestBrowser().get(
        `${server.url}/api/auth/google/login?redirect_to=${encodeURIComponent('https://other.example.test/x')}`,
      );
      assert.equal(ok.status, 302);
    });

    test('a second configured provider works at /api/auth/oidc/:provider with no code of its own (claims from UserInfo)', async () => {
      const person = account(acme, { email: `acme-${style}-${engine}@acme.test` });
      const { browser, location } = await startLogin('/api/auth/oidc/acme/login');
      assert.equal(new URL(location).origin, acme.issuer);
      assert.equal(new URL(location).searchParams.get('redirect_uri'), `${server.url}/api/auth/oidc/acme/callback`);
      const res = await browser.get(await browser.authorizeAt(acme, location, person.sub));
      assert.equal(res.status, 302, res.text);
      assert.equal(res.location, `${APP}/after?tab=2`);
      const user = await userBySub(acme.issuer, person.sub);
      assert.equal(user.email, person.email);
      assert.equal((await identityOf(acme.issuer, person.sub))?.provider, 'acme');
    });

    test('/openapi.json documents the sign-in endpoints', async () => {
      const res = await server.request('GET', '/openapi.json');
      assert.equal(res.status, 200);
      for (const path of [
        '/api/auth/google/login',
        '/api/auth/google/callback',
        '/api/auth/google',
        '/api/auth/oidc/{provider}/login',
        '/api/auth/oidc/{provider}',
      ]) {
        assert.ok(res.body.paths[path], path);
      }
    });

    test('Google is also reachable as /api/auth/oidc/google', async () => {
      const { location } = await startLogin('/api/auth/oidc/google/login');
      assert.equal(new URL(location).searchParams.get('redirect_uri'), `${server.url}/api/auth/oidc/google/callback`);
    });

    test('an unknown provider is a 404; an unreachable one a 503, or ?error=provider_unavailable', async () => {
      for (const [method, path] of [
        ['GET', '/api/auth/oidc/nope/login'],
        ['GET', '/api/auth/oidc/nope/callback'],
        ['POST', '/api/auth/oidc/nope'],
      ] as const) {
        const res = await server.request(method, path, method === 'POST' ? { body: { id_token: 'x' } } : {});
        assert.equal(res.status, 404, path);
        assert.equal(errorOf(res, style), style === 'flat' ? 'unknown sign-in provider' : 'NOT_FOUND');
      }
      const down = await server.request('GET', '/api/auth/oidc/down/login');
      assert.equal(down.status, 503);
      assert.equal(errorOf(down, style), style === 'flat' ? 'the identity provider could not be reached' : 'PROVIDER_UNAVAILABLE');
      const { res } = await startLogin('/api/auth/oidc/down/login');
      assert.equal(res.location, `${APP}/after?tab=2&error=provider_unavailable`);
    });

    describe('POST /api/auth/google', () => {
      /** The app's own authorization request at the provider (as Vega's browser extension does); the code it gets back. */
      async function codeFromProvider(sub: string, extra: Record<string, string> = {}): Promise<{ code: string; redirectUri: string }> {
        const redirectUri = 'http://127.0.0.1:1/app/callback';
        const url = new URL(`${google.issuer}/auth`);
        url.search = new URLSearchParams({
          client_id: GOOGLE.client_id,
          response_type: 'code',
          scope: 'openid email',
          redirect_uri: redirectUri,
          ...extra,
        }).toString();
        const back = new URL(await new TestBrowser().authorizeAt(google, url.href, sub));
        return { code: back.searchParams.get('code') as string, redirectUri };
      }

      test('{code, redirect_uri} signs in and answers the token body of login; the code works once', async () => {
        const person = account(google);
        const { code, redirectUri } = await codeFromProvider(person.sub);
        const res = await server.request('POST', '/api/auth/google', { body: { code, redirect_uri: redirectUri } });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.headers.get('cache-control'), 'no-store');
        assert.match(res.headers.get('set-cookie') ?? '', /^latchkey_refresh=/);
        const { access } = tokensOf(res, style);
        assert.equal(claimsOf(access).user_id, (await userBySub(google.issuer, person.sub)).id);

        const again = await server.request('POST', '/api/auth/google', { body: { code, redirect_uri: redirectUri } });
        assert.equal(again.status, 401);
        assert.equal(errorOf(again, style), style === 'flat' ? 'failed to exchange code for JWT' : 'INVALID_GRANT');
      });

      test('{code, redirectUri} (camelCase) works in either style, with PKCE and nonce checked when the app used them', async () => {
        const person = account(google);
        const verifier = 'v'.repeat(50);
        const challenge = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))).toString('base64url');
        const { code, redirectUri } = await codeFromProvider(person.sub, {
          nonce: 'app-nonce',
          code_challenge: challenge,
          code_challenge_method: 'S256',
        });
        const wrongNonce = await server.request('POST', '/api/auth/google', {
          body: { code, redirectUri, codeVerifier: verifier, nonce: 'other' },
        });
        assert.equal(wrongNonce.status, 401);
        assert.equal(errorOf(wrongNonce, style), style === 'flat' ? 'invalid id token' : 'INVALID_ID_TOKEN');

        const second = await codeFromProvider(person.sub, { nonce: 'app-nonce', code_challenge: challenge, code_challenge_method: 'S256' });
        const res = await server.request('POST', '/api/auth/google', {
          body: { code: second.code, redirectUri, codeVerifier: verifier, nonce: 'app-nonce' },
        });
        assert.equal(res.status, 200, res.text);
      });

      test('{id_token} (and idToken) signs in when signature, issuer, audience, expiry and nonce hold', async () => {
        const person = account(google);
        // Two tokens: an ID token is accepted once only.
        const token = (jti: string) =>
          google.signIdToken({ sub: person.sub, email: person.email, email_verified: true, nonce: 'n-1', jti });
        for (const body of [{ id_token: await token('first') }, { idToken: await token('second'), nonce: 'n-1' }]) {
          const res = await server.request('POST', '/api/auth/google', { body });
          assert.equal(res.status, 200, res.text);
          assert.equal(claimsOf(tokensOf(res, style).access).user_id, (await userBySub(google.issuer, person.sub)).id);
        }
      });

      test('an ID token with a wrong audience, issuer, signature, nonce or expiry is refused', async () => {
        const person = account(google);
        const base = { sub: person.sub, email: person.email, email_verified: true };
        const now = Math.floor(Date.now() / 1000);
        const cases: [string, string, string | undefined][] = [
          ['audience', await google.signIdToken({ ...base, aud: OTHER_APP.client_id }), undefined],
          [
            'several audiences, azp not us',
            await google.signIdToken({ ...base, aud: [GOOGLE.client_id, OTHER_APP.client_id], azp: OTHER_APP.client_id }),
            undefined,
          ],
          ['issuer', await google.signIdToken({ ...base, iss: acme.issuer }), undefined],
          ['signature (another provider key)', await acme.signIdToken({ ...base, iss: google.issuer, aud: GOOGLE.client_id }), undefined],
          ['expired', await google.signIdToken({ ...base, iat: now - 7200, exp: now - 3600 }), undefined],
          ['nonce', await google.signIdToken({ ...base, nonce: 'n-1' }), 'n-2'],
          ['nonce missing', await google.signIdToken(base), 'n-2'],
          ['not a JWT', 'not.a.jwt', undefined],
        ];
        for (const [what, token, nonce] of cases) {
          const res = await server.request('POST', '/api/auth/google', { body: { id_token: token, ...(nonce ? { nonce } : {}) } });
          assert.equal(res.status, 401, what);
          assert.equal(errorOf(res, style), style === 'flat' ? 'invalid id token' : 'INVALID_ID_TOKEN', what);
        }
        assert.equal(await identityOf(google.issuer, person.sub), undefined);
      });

      test('an ID token posted a second time is refused, with or without a jti, and one issued in the future is refused', async () => {
        const person = account(google);
        const withJti = await google.signIdToken({ ...person, jti: `once-${counter}` });
        const withoutJti = await google.signIdToken({ ...person, nonce: `n-${counter}` });
        for (const token of [withJti, withoutJti]) {
          assert.equal((await server.request('POST', '/api/auth/google', { body: { id_token: token } })).status, 200);
          const replay = await server.request('POST', '/api/auth/google', { body: { id_token: token } });
          assert.equal(replay.status, 401);
          assert.equal(errorOf(replay, style), style === 'flat' ? 'invalid id token' : 'INVALID_ID_TOKEN');
        }
        // Nor its twin: the last character of a base64url signature has spare bits that decoders ignore, so one
        // signature has several spellings that all verify; a token is remembered by what its signature covers.
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        const twinOf = (token: string) => token.slice(0, -1) + alphabet[alphabet.indexOf(token.at(-1) ?? 'A') ^ 1];
        const twin = await server.request('POST', '/api/auth/google', { body: { id_token: twinOf(withoutJti) } });
        assert.equal(twin.status, 401, twin.text);
        assert.equal(errorOf(twin, style), style === 'flat' ? 'invalid id token' : 'INVALID_ID_TOKEN');
        // Another token with the same jti is the same token to us (the provider promises jti unique).
        const sameJti = await server.request('POST', '/api/auth/google', {
          body: { id_token: await google.signIdToken({ ...person, jti: `once-${counter}`, nonce: 'x' }) },
        });
        assert.equal(sameJti.status, 401);
        const now = Math.floor(Date.now() / 1000);
        const future = await server.request('POST', '/api/auth/google', {
          body: { id_token: await google.signIdToken({ ...person, iat: now + 300, exp: now + 900 }) },
        });
        assert.equal(future.status, 401);
        assert.equal(errorOf(future, style), style === 'flat' ? 'invalid id token' : 'INVALID_ID_TOKEN');
      });

      test('an existing user with the same verified email is linked, then found by (issuer, subject)', async () => {
        const local = await server.createUser(`linda-${counter}`, { email: `Linda.${counter}@Example.test` });
        const person = account(google, { email: `linda.${counter}@example.test` });
        const first = await server.request('POST', '/api/auth/google', { body: { id_token: await google.signIdToken({ ...person }) } });
        assert.equal(first.status, 200, first.text);
        assert.equal(claimsOf(tokensOf(first, style).access).user_id, local.id);
        assert.equal((await identityOf(google.issuer, person.sub))?.user_id, local.id);
        assert.deepEqual(await auditTypes(local.id), ['user_created', 'oidc_linked', 'oidc_sign_in']);
        // The provider's email changes later: the identity, not the email, decides.
        const later = await server.request('POST', '/api/auth/google', {
          body: { id_token: await google.signIdToken({ ...person, email: 'changed@gmail.test' }) },
        });
        assert.equal(claimsOf(tokensOf(later, style).access).user_id, local.id);
        // The password still works for a linked account.
        await server.login(local.username);
      });

      test('a provider-verified email takes over an account whose address was never confirmed: its password and sessions end (SPEC §10)', async () => {
        const squatter = await server.core.accounts.create({
          username: `squat-${counter}`,
          email: `owner.${counter}@example.test`,
          password: PASSWORD,
          emailVerified: false,
        });
        const held = await server.login(squatter.username);
        const person = account(google, { email: `owner.${counter}@example.test` });
        const res = await server.request('POST', '/api/auth/google', { body: { id_token: await google.signIdToken({ ...person }) } });
        assert.equal(res.status, 200, res.text);
        assert.equal(claimsOf(tokensOf(res, style).access).user_id, squatter.id);
        const after = await server.core.users.getById(squatter.id);
        assert.equal(after.emailVerified, true);
        assert.equal(after.passwordHash, null);
        assert.equal((await server.request('POST', '/api/auth/refresh', { body: { refresh_token: held.refresh } })).status, 401);
        assert.equal(
          (await server.request('POST', '/api/auth/login', { body: { username: squatter.username, password: PASSWORD } })).status,
          401,
        );
      });

      test('an unverified email never links to the existing user with that email', async () => {
        const local = await server.createUser(`victor-${counter}`, { email: `victor.${counter}@example.test` });
        for (const unverified of [false, 'false', undefined]) {
          const person = account(google, { email: local.email as string, email_verified: unverified as boolean });
          const res = await server.request('POST', '/api/auth/google', { body: { id_token: await google.signIdToken({ ...person }) } });
          assert.equal(res.status, 403, String(unverified));
          assert.equal(
            errorOf(res, style),
            style === 'flat' ? 'the identity provider has not verified the email address' : 'EMAIL_NOT_VERIFIED',
          );
          assert.equal(await identityOf(google.issuer, person.sub), undefined);
        }
        assert.deepEqual(await auditTypes(local.id), ['user_created']);
      });

      test('a disabled user is refused', async () => {
        const local = await server.createUser(`dora-${counter}`, { email: `dora.${counter}@example.test` });
        await server.core.accounts.setDisabled(local.id, true);
        const person = account(google, { email: local.email as string });
        const res = await server.request('POST', '/api/auth/google', { body: { id_token: await google.signIdToken({ ...person }) } });
        assert.equal(res.status, 403);
        assert.equal(errorOf(res, style), style === 'flat' ? 'the account is disabled' : 'ACCOUNT_DISABLED');
      });

      test('a malformed body is a 400 in the style', async () => {
        const bodies: unknown[] = [
          {},
          { code: 'a', id_token: 'b' },
          { code: 12 },
          { id_token: '' },
          { code: 'a', redirect_uri: 'not a url' },
          { code: 'a', redirect_uri: 'ftp://x/' },
          [1],
        ];
        for (const body of bodies) {
          const res = await server.request('POST', '/api/auth/google', { body });
          assert.equal(res.status, 400, JSON.stringify(body));
          assert.equal(errorOf(res, style), style === 'flat' ? 'invalid request body' : 'VALIDATION_ERROR');
        }
        const empty = await server.request('POST', '/api/auth/google');
        assert.equal(empty.status, 400);
      });
    });
  });

  describe(`Google restricted to a Workspace domain, without sign-up (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({
        style,
        engine,
        env: env({ LATCHKEY_GOOGLE_ALLOWED_DOMAINS: 'Example.com', LATCHKEY_GOOGLE_AUTO_CREATE: 'false' }),
      });
    });
    after(() => server.close());

    const signIn = async (claims: Record<string, unknown>) =>
      server.request('POST', '/api/auth/google', { body: { id_token: await google.signIdToken({ email_verified: true, ...claims }) } });

    test('an account outside the allowed hd, or with no hd, is refused', async () => {
      await server.createUser('wanda', { email: 'wanda@example.com' });
      for (const hd of ['other.com', undefined]) {
        // The email's domain is not enough: only Google's hd says the account belongs to the Workspace.
        const res = await signIn({ sub: `w-${hd}`, email: 'wanda@example.com', ...(hd ? { hd } : {}) });
        assert.equal(res.status, 403, String(hd));
        assert.equal(errorOf(res, style), style === 'flat' ? "the account's domain is not allowed" : 'DOMAIN_NOT_ALLOWED');
      }
    });

    test('the browser flow sends a disallowed domain back with ?error=domain_not_allowed', async () => {
      const person = account(google, { hd: 'other.com' });
      const browser = new TestBrowser();
      const start = await browser.get(`${server.url}/api/auth/google/login?redirect_to=${encodeURIComponent(APP + '/')}`);
      const res = await browser.get(await browser.authorizeAt(google, start.location as string, person.sub));
      assert.equal(res.location, `${APP}/?error=domain_not_allowed`);
    });

    test('an allowed domain links an existing user but creates none', async () => {
      await server.createUser('xena', { email: 'xena@example.com' });
      const linked = await signIn({ sub: 'x-1', email: 'xena@example.com', hd: 'example.com' });
      assert.equal(linked.status, 200, linked.text);
      const unknown = await signIn({ sub: 'x-2', email: 'nobody@example.com', hd: 'example.com' });
      assert.equal(unknown.status, 403);
      assert.equal(errorOf(unknown, style), style === 'flat' ? 'no account is linked to this identity' : 'SIGNUP_DISABLED');
      assert.equal(await server.core.users.findByIdentifier('nobody@example.com'), undefined);
    });
  });

  describe(`OpenID sign-in limits and email matching (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine, env: env({ LATCHKEY_LIMITS: 'on', LATCHKEY_LIMIT_REFRESH_PER_ADDRESS: '4/1m' }) });
    });
    after(() => server.close());

    test('a Kelvin sign (U+212A) in a provider-asserted email does not match the user whose email has a k', async () => {
      const local = await server.createUser(`kate-${counter}-${style}`, { email: `kate.${counter}@example.test` });
      const person = account(google, { email: `\u212Aate.${counter}@example.test` });
      const res = await server.request('POST', '/api/auth/google', { body: { id_token: await google.signIdToken({ ...person }) } });
      assert.equal(res.status, 200, res.text);
      assert.notEqual(claimsOf(tokensOf(res, style).access).user_id, local.id, 'a new account, not kate');
      // An ASCII case difference still matches (SPEC §2: emails compare case-insensitively).
      const upper = account(google, { email: `KATE.${counter - 1}@EXAMPLE.TEST` });
      const same = await server.request('POST', '/api/auth/google', { body: { id_token: await google.signIdToken({ ...upper }) } });
      assert.equal(claimsOf(tokensOf(same, style).access).user_id, local.id);
    });

    test('the sign-in endpoints are limited per client address: a 429 with Retry-After', async () => {
      // The test above spent 2 of the 4; the limit covers /login, /callback and POST alike (the test
      // client follows redirects, so /login is left to the browser tests).
      const statuses: number[] = [];
      for (const [method, path] of [
        ['GET', '/api/auth/google/callback'],
        ['POST', '/api/auth/google'],
        ['GET', '/api/auth/oidc/acme/callback'],
      ] as const) {
        const res = await server.request(method, path, method === 'POST' ? { body: { id_token: 'not.a.token' } } : {});
        statuses.push(res.status);
        if (res.status === 429) {
          assert.match(res.headers.get('retry-after') ?? '', /^\d+$/);
          assert.equal(errorOf(res, style), style === 'flat' ? 'Too many requests. Please try again later.' : 'RATE_LIMITED');
        }
      }
      assert.deepEqual(
        statuses.map((s) => s === 429),
        [false, false, true],
        statuses.join(','),
      );
      // The password login is a separate budget.
      await server.createUser(`lim-${counter}-${style}`);
      assert.equal(
        (await server.request('POST', '/api/auth/login', { body: { username: `lim-${counter}-${style}`, password: PASSWORD } })).status,
        200,
      );
    });
  });
}
