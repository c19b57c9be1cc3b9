/**
 * The /ui routes over plain HTTP (no browser): LATCHKEY_UI=off, the configuration the pages read, and
 * OpenID sign-in coming back to Latchkey's own pages without listing its own origin.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestBrowser, type TestProvider, startTestProvider } from './support/oidc.ts';
import { STYLES, type TestServer, errorOf, startTestServer } from './support/server.ts';

/** A port nothing listens on now, so that LATCHKEY_PUBLIC_URL can name the server's real address before it starts. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const GOOGLE = { client_id: 'latchkey-google', client_secret: 'google-secret-for-tests' };

for (const style of STYLES) {
  describe(`LATCHKEY_UI=off (${style} style)`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, env: { LATCHKEY_UI: 'off' } });
    });
    after(() => server.close());

    test('no page, asset or config is served: a 404 in the style, and the API works as before', async () => {
      for (const path of ['/ui/login', '/ui/admin', '/ui/config.json', '/ui']) {
        const res = await server.request('GET', path);
        assert.equal(res.status, 404, path);
        assert.equal(errorOf(res, style), style === 'flat' ? 'not found' : 'NOT_FOUND');
        assert.equal(res.headers.get('content-security-policy'), null);
      }
      const spec = await server.request('GET', '/openapi.json');
      assert.equal(
        Object.keys(spec.body.paths).some((p) => p.startsWith('/ui')),
        false,
      );
      assert.equal(
        (await server.request('POST', '/api/auth/login', { body: { username: 'root', password: 'root-password-for-tests' } })).status,
        200,
      );
    });
  });

  describe(`pages that are not built (${style} style)`, () => {
    let server: TestServer;
    let empty: string;
    before(async () => {
      empty = mkdtempSync(join(tmpdir(), 'latchkey-no-ui-'));
      server = await startTestServer({ style, uiDir: empty });
    });
    after(async () => {
      await server.close();
      rmSync(empty, { recursive: true, force: true });
    });

    test('a page is a 503 in the style that says nothing more, assets are 404s, and the config still answers', async () => {
      const page = await server.request('GET', '/ui/login');
      assert.equal(page.status, 503);
      assert.equal(page.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal(page.headers.get('retry-after'), '1');
      assert.equal(errorOf(page, style), style === 'flat' ? 'service unavailable' : 'SERVICE_UNAVAILABLE');
      assert.notEqual(page.headers.get('content-security-policy'), null);
      assert.equal((await server.request('GET', '/ui/assets/index-abc.js')).status, 404);
      assert.equal((await server.request('GET', '/ui/config.json')).status, 200);
    });
  });

  describe(`the pages' configuration and OpenID return (${style} style)`, () => {
    let provider: TestProvider;
    let server: TestServer;
    before(async () => {
      provider = await startTestProvider({ clients: [GOOGLE], claimsInIdToken: true });
      const port = await freePort();
      server = await startTestServer({
        style,
        env: {
          PORT: String(port),
          LATCHKEY_PUBLIC_URL: `http://127.0.0.1:${port}`,
          LATCHKEY_GOOGLE_CLIENT_ID: GOOGLE.client_id,
          LATCHKEY_GOOGLE_CLIENT_SECRET: GOOGLE.client_secret,
          LATCHKEY_GOOGLE_ISSUER: provider.issuer,
          LATCHKEY_OIDC_PROVIDERS: JSON.stringify([
            { id: 'acme', name: 'Acme SSO', issuer: provider.issuer, client_id: 'x', client_secret: 'y' },
          ]),
          LATCHKEY_SIGNUP: 'open',
        },
      });
    });
    after(async () => {
      await server.close();
      await provider.close();
    });

    test('/ui/config.json lists the providers with their sign-in addresses, in the style', async () => {
      const res = await server.request('GET', '/ui/config.json');
      assert.equal(res.status, 200);
      const providers = [
        { id: 'google', name: 'Google', [style === 'flat' ? 'login_url' : 'loginUrl']: '/api/auth/google/login' },
        { id: 'acme', name: 'Acme SSO', [style === 'flat' ? 'login_url' : 'loginUrl']: '/api/auth/oidc/acme/login' },
      ];
      const data = style === 'flat' ? res.body : res.body.data;
      assert.deepEqual(data.providers, providers);
      assert.equal(data.signup, 'open');
      assert.equal(data[style === 'flat' ? 'app_name' : 'appName'], 'Latchkey');
    });

    test("a provider's sign-in comes back to Latchkey's own /ui/ page, signed in by the cookie; other places on this origin stay refused", async () => {
      const sub = `ui-person-${style}`;
      provider.accounts.set(sub, { sub, email: `${sub}@gmail.test`, email_verified: true });
      const browser = new TestBrowser();
      const back = `${server.url}/ui/login?redirect_to=%2Fui%2Faccount`;
      const start = await browser.get(`${server.url}/api/auth/google/login?redirect_to=${encodeURIComponent(back)}`);
      assert.equal(start.status, 302, start.text);
      const res = await browser.get(await browser.authorizeAt(provider, start.location as string, sub));
      assert.equal(res.status, 302, res.text);
      assert.equal(res.location, back);
      assert.notEqual(browser.cookies(server.url).get('latchkey_refresh'), undefined);

      const elsewhere = await new TestBrowser().get(
        `${server.url}/api/auth/google/login?redirect_to=${encodeURIComponent(`${server.url}/api/auth/me`)}`,
      );
      assert.equal(elsewhere.status, 400);
      assert.equal(errorOf(elsewhere, style), style === 'flat' ? 'redirect_to is not an allowed origin' : 'REDIRECT_NOT_ALLOWED');
    });
  });
}
