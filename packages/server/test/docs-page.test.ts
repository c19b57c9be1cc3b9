// The API reference a newcomer opens first: /openapi.json and the /docs page in Chromium.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { type TestServer, startTestServer } from './support/server.ts';
import { CHROMIUM_MISSING, launchChromium } from './support/ui.ts';

interface OpenApi {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { description: string }>; parameters?: { name: string; description?: string }[] }>
  >;
}

async function openapi(server: TestServer): Promise<OpenApi> {
  const res = await fetch(`${server.url}/openapi.json`);
  assert.equal(res.status, 200);
  return (await res.json()) as OpenApi;
}

describe('/openapi.json', () => {
  let plain: TestServer;
  let withGoogle: TestServer;
  before(async () => {
    plain = await startTestServer();
    // Only configured: the provider is contacted on the first sign-in, never at start.
    withGoogle = await startTestServer({
      env: { LATCHKEY_GOOGLE_CLIENT_ID: 'docs-test-client', LATCHKEY_GOOGLE_CLIENT_SECRET: 'docs-test-secret' },
    });
  });
  after(async () => {
    await plain.close();
    await withGoogle.close();
  });

  test('every response has a real description, never "Default Response"', async () => {
    for (const doc of [await openapi(plain), await openapi(withGoogle)]) {
      const generic = Object.entries(doc.paths).flatMap(([path, item]) =>
        Object.entries(item).flatMap(([method, op]) =>
          Object.entries(op.responses)
            .filter(([, r]) => r.description === 'Default Response' || r.description === '')
            .map(([status]) => `${method} ${path} ${status}`),
        ),
      );
      assert.deepEqual(generic, []);
    }
    const doc = await openapi(withGoogle);
    assert.equal(doc.paths['/api/auth/login']?.post?.responses['200']?.description, 'Token pair');
    assert.match(doc.paths['/api/auth/refresh']?.post?.responses['401']?.description ?? '', /^No session/);
    assert.equal(doc.paths['/api/auth/google']?.post?.responses['404']?.description, 'Unknown sign-in provider');
    // A route's own description is kept.
    assert.equal(doc.paths['/api/auth/logout']?.post?.responses['204']?.description, 'Session revoked');
  });

  test('routes of providers that are not configured are not listed, and still answer 404', async () => {
    const signIn = (doc: OpenApi) =>
      Object.keys(doc.paths).filter((path) => path.startsWith('/api/auth/google') || path.startsWith('/api/auth/oidc/'));
    assert.deepEqual(signIn(await openapi(plain)), []);
    const res = await plain.request('GET', '/api/auth/google/login');
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { error: 'unknown sign-in provider' });

    const listed = signIn(await openapi(withGoogle)).sort();
    assert.deepEqual(listed, [
      '/api/auth/google',
      '/api/auth/google/callback',
      '/api/auth/google/login',
      '/api/auth/oidc/{provider}',
      '/api/auth/oidc/{provider}/callback',
      '/api/auth/oidc/{provider}/login',
    ]);
    const param = (await openapi(withGoogle)).paths['/api/auth/oidc/{provider}/login']?.get?.parameters?.find((p) => p.name === 'provider');
    assert.equal(param?.description, 'A configured provider id: google');
  });
});

describe('/docs in Chromium', { skip: CHROMIUM_MISSING }, () => {
  let server: TestServer;
  let browser: Browser;
  before(async () => {
    server = await startTestServer();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test("shows Latchkey's name and the real response descriptions, with no console error or CSP violation", async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning' || message.text().startsWith('csp-violation'))
        problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    await page.addInitScript(() =>
      document.addEventListener('securitypolicyviolation', (event) =>
        console.log(`csp-violation ${event.violatedDirective} ${event.sourceFile}:${event.lineNumber}`),
      ),
    );
    const other: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(server.url) && !request.url().startsWith('data:')) other.push(request.url());
    });

    await page.goto(`${server.url}/docs`);
    assert.equal(await page.title(), 'Latchkey API');
    const logo = page.locator('#swagger-ui .topbar a.link img');
    await logo.waitFor();
    const svg = Buffer.from((await logo.getAttribute('src'))!.replace(/^data:image\/svg\+xml;base64,/, ''), 'base64').toString('utf8');
    assert.match(svg, />Latchkey</);
    assert.doesNotMatch(svg, /fastify/i);

    // Open the login operation: its responses render with their descriptions.
    await page.locator('#operations-auth-post_api_auth_login .opblock-summary-control').click();
    const responses = page.locator('#operations-auth-post_api_auth_login .responses-table .response-col_description');
    await responses.first().waitFor();
    const texts = (await responses.allInnerTexts()).map((t) => t.trim());
    assert.ok(
      texts.some((t) => t.startsWith('Token pair')),
      texts.join(' | '),
    );
    assert.ok(!texts.some((t) => t.includes('Default Response')), texts.join(' | '));

    assert.deepEqual(problems, []);
    assert.deepEqual(other, []);
    await page.close();
  });
});
