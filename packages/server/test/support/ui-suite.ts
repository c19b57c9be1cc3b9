/**
 * The hosted pages and the admin console (SPEC §12) in Debian's Chromium, against a real server: every
 * page with the endpoints that exist today (sign-in, account, admin), in three files so that each stays short:
 * ui.test.ts runs the flows in the flat style, ui-envelope.test.ts in the envelope style, and ui-sweep.test.ts
 * sweeps every page with axe-core at two widths and takes the screenshots of docs/ui/ (once: the pages' markup
 * does not depend on the wire style, only the client's requests do). The flows of sign-up, links, TOTP and
 * passkeys are in ui-flows.test.ts.
 */
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { UI_CSP } from '../../src/http/routes/ui.ts';
import { PASSWORD, type Engine, type Style, type TestServer, startTestServer, tokensOf } from './server.ts';
import {
  CHROMIUM_MISSING,
  type PageWatch,
  assertAccessible,
  assertNoHorizontalScroll,
  ensureUiBuilt,
  launchChromium,
  openPage,
  screenshot,
} from './ui.ts';

const ROOT_PASSWORD = 'root-password-for-tests';

export interface HostedPagesRun {
  readonly style: Style;
  readonly engine: Engine;
  /** The flows of each page, or the sweep of every page with axe-core at two widths (taking the screenshots of docs/ui/). */
  readonly part: 'flows' | 'sweep';
}

export function hostedPagesSuite(run: HostedPagesRun): void {
  const what = run.part === 'sweep' ? 'every hosted page swept' : 'hosted pages';
  describe(`${what} in Chromium (${run.style} style on ${run.engine})`, { skip: CHROMIUM_MISSING }, () => {
    let server: TestServer;
    let browser: Browser;
    let app: Server;
    let appOrigin: string;
    const watches: PageWatch[] = [];

    before(async () => {
      await ensureUiBuilt();
      // An application on another origin that sign-in may send people back to (an HTML page: the headless
      // shell takes a text/plain answer to a navigation for a download).
      app = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('the application'));
      await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
      appOrigin = `http://localhost:${(app.address() as AddressInfo).port}`;
      server = await startTestServer({
        style: run.style,
        engine: run.engine,
        env: {
          // Keys kept in the database, so that the console can rotate them.
          LATCHKEY_JWT_SECRET: '',
          LATCHKEY_ALLOWED_REDIRECTS: appOrigin,
          LATCHKEY_APP_NAME: 'Acme Accounts',
          LATCHKEY_SIGNUP: 'verify',
        },
      });
      browser = await launchChromium();
    });

    after(async () => {
      await browser?.close();
      await server?.close();
      await new Promise((resolve) => app?.close(resolve));
    });

    async function open(context: BrowserContext, path: string): Promise<Page> {
      const { page, watch } = await openPage(context, server.url);
      watches.push(watch);
      await page.goto(server.url + path);
      return page;
    }

    async function signIn(page: Page, username: string, password: string): Promise<void> {
      await page.getByLabel('Username or email').fill(username);
      await page.getByLabel('Password', { exact: true }).fill(password);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    }

    /** A signed-in page on /ui/account. */
    async function signedIn(context: BrowserContext, username: string, password: string): Promise<Page> {
      const page = await open(context, '/ui/login');
      await signIn(page, username, password);
      await page.waitForURL(`${server.url}/ui/account`);
      await page.getByTestId('profile-username').filter({ hasText: username }).waitFor();
      return page;
    }

    if (run.part === 'flows') {
      test('every /ui answer carries the strict CSP, deep links get the page, and the config follows the style', async () => {
        for (const path of ['/ui/login', '/ui/account', '/ui/admin', '/ui/reset-password?token=abc', '/ui/config.json']) {
          const res = await server.request('GET', path);
          assert.equal(res.status, 200, path);
          assert.equal(res.headers.get('content-security-policy'), UI_CSP, path);
          assert.match(UI_CSP, /frame-ancestors 'none'/);
          assert.doesNotMatch(UI_CSP, /unsafe-inline|unsafe-eval/);
          assert.equal(res.headers.get('referrer-policy'), 'no-referrer', path);
          if (path !== '/ui/config.json') {
            assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
            assert.match(res.text, /<div id="root"><\/div>/);
            // No inline script or style: every script and style sheet comes from /ui/assets/.
            assert.doesNotMatch(res.text, /<script(?![^>]*\bsrc="\/ui\/assets\/)[^>]*>|<style|style="/);
          }
        }
        const config = await server.request('GET', '/ui/config.json');
        const expected = { style: run.style, signup: 'verify', providers: [] };
        if (run.style === 'flat') assert.deepEqual(config.body, { ...expected, app_name: 'Acme Accounts', allowed_redirects: [appOrigin] });
        else assert.deepEqual(config.body.data, { ...expected, appName: 'Acme Accounts', allowedRedirects: [appOrigin] });
        for (const root of ['/ui', '/ui/']) {
          const res = await fetch(server.url + root, { redirect: 'manual' });
          assert.equal(res.status, 302);
          assert.equal(res.headers.get('location'), '/ui/login');
        }
        const missing = await server.request('GET', '/ui/nothing-here');
        assert.equal(missing.status, 404);
        assert.equal((await server.request('GET', '/ui/assets/../../package.json')).status, 404);
        assert.equal((await server.request('GET', '/ui/assets/missing.js')).status, 404);
      });

      test('sign-in: a wrong password is a message on the page; the right one lands on the account page with the token only in memory', async () => {
        const context = await browser.newContext();
        const page = await open(context, '/ui/login');
        await page.getByRole('heading', { name: 'Sign in' }).waitFor();
        assert.equal(await page.title(), 'Sign in · Acme Accounts');
        await signIn(page, 'root', 'not-the-password');
        await page.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();
        assert.equal(page.url(), `${server.url}/ui/login`);

        await page.getByLabel('Password', { exact: true }).fill(ROOT_PASSWORD);
        await page.getByRole('button', { name: 'Sign in', exact: true }).click();
        await page.waitForURL(`${server.url}/ui/account`);
        await page.getByTestId('profile-username').filter({ hasText: 'root' }).waitFor();

        const cookie = (await context.cookies(server.url + '/api/auth')).find((c) => c.name === 'latchkey_refresh');
        assert.equal(cookie?.httpOnly, true);
        assert.equal(await page.evaluate(() => document.cookie.includes('latchkey_refresh')), false);
        const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
        assert.doesNotMatch(stored, /eyJ/);

        // A reload keeps the session through the cookie alone.
        await page.reload();
        await page.getByTestId('profile-username').filter({ hasText: 'root' }).waitFor();

        await page.getByRole('button', { name: 'Sign out', exact: true }).click();
        await page.waitForURL(`${server.url}/ui/login`);
        await page.goto(server.url + '/ui/account');
        await page.waitForURL(/\/ui\/login\?redirect_to=%2Fui%2Faccount$/);
        await context.close();
      });

      test('keyboard only: type, Tab, Enter signs in', async () => {
        await server.createUser('keys-only');
        const context = await browser.newContext();
        const page = await open(context, '/ui/login');
        await page.getByLabel('Username or email').waitFor();
        // The first field has the focus on arrival; everything after is keys alone.
        assert.equal(
          await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.labels?.[0]?.textContent),
          'Username or email',
        );
        await page.keyboard.type('keys-only');
        await page.keyboard.press('Tab');
        assert.equal(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.labels?.[0]?.textContent), 'Password');
        await page.keyboard.type(PASSWORD);
        await page.keyboard.press('Tab');
        assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Sign in');
        await page.keyboard.press('Enter');
        await page.waitForURL(`${server.url}/ui/account`);
        await page.getByTestId('profile-username').filter({ hasText: 'keys-only' }).waitFor();
        await context.close();
      });

      test('after sign-in, redirect_to is followed only to an allowed origin', async () => {
        await server.createUser('traveller');
        const allowed = await browser.newContext();
        const page = await allowed.newPage();
        await page.goto(`${server.url}/ui/login?redirect_to=${encodeURIComponent(appOrigin + '/welcome?x=1')}`);
        await signIn(page, 'traveller', PASSWORD);
        await page.waitForURL(`${appOrigin}/welcome?x=1`);
        assert.equal(await page.textContent('body'), 'the application');
        await allowed.close();

        const refused = await browser.newContext();
        const other = await open(refused, `/ui/login?redirect_to=${encodeURIComponent('https://evil.example/steal')}`);
        await signIn(other, 'traveller', PASSWORD);
        await other.waitForURL(`${server.url}/ui/account`);
        await refused.close();
      });

      test('account: change password (wrong then right), and "Sign out everywhere else" ends the other sessions only', async () => {
        await server.createUser('carol', { email: 'carol@example.com' });
        const elsewhere = await server.login('carol');
        const context = await browser.newContext();
        const page = await signedIn(context, 'carol', PASSWORD);
        await page.getByText('carol@example.com').waitFor();

        const sessions = page.getByTestId('sessions');
        await sessions.getByText('This browser').waitFor();
        await sessions.locator('li').nth(1).waitFor();
        assert.equal(await sessions.locator('li').count(), 2);
        await page.getByRole('button', { name: 'Sign out everywhere else' }).click();
        await page.getByRole('status').filter({ hasText: 'Signed out everywhere else (1 session).' }).waitFor();
        assert.equal(await sessions.locator('li').count(), 1);
        await sessions.getByText('This browser').waitFor();
        const refused = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: elsewhere.refresh } });
        assert.equal(refused.status, 401);

        const section = page.getByRole('region', { name: 'Change password' });
        await section.getByLabel('Current password').fill('not-my-password');
        await section.getByLabel('New password').fill('a brand new passphrase 9');
        await section.getByRole('button', { name: 'Set password' }).click();
        await section.getByRole('alert').filter({ hasText: 'Current password is incorrect.' }).waitFor();

        await section.getByLabel('Current password').fill(PASSWORD);
        await section.getByLabel('New password').fill('password1');
        await section.getByRole('button', { name: 'Set password' }).click();
        await section.getByRole('alert').filter({ hasText: 'New password is one of the 10,000 most common passwords.' }).waitFor();

        await section.getByLabel('New password').fill('a brand new passphrase 9');
        await section.getByRole('button', { name: 'Set password' }).click();
        await section.getByRole('status').filter({ hasText: 'Your password is changed.' }).waitFor();
        assert.equal(
          (await server.request('POST', '/api/auth/login', { body: { username: 'carol', password: 'a brand new passphrase 9' } })).status,
          200,
        );
        assert.equal((await server.request('POST', '/api/auth/login', { body: { username: 'carol', password: PASSWORD } })).status, 401);
        await context.close();
      });

      test('a STANDARD user gets no console', async () => {
        await server.createUser('dave');
        const context = await browser.newContext();
        const page = await signedIn(context, 'dave', PASSWORD);
        assert.equal(await page.getByRole('link', { name: 'Admin' }).count(), 0);
        await page.goto(server.url + '/ui/admin');
        await page.getByRole('alert').filter({ hasText: 'Only administrators can use the console.' }).waitFor();
        assert.equal(await page.getByRole('searchbox', { name: 'Search users' }).count(), 0);
        await context.close();
      });

      test('admin: search, create, role, disable (that user cannot log in), reset password, sessions, audit filters, keys', async () => {
        for (let i = 0; i < 3; i += 1) await server.createUser(`zeta-${i}`, { email: `zeta-${i}@example.com` });
        const context = await browser.newContext();
        const page = await signedIn(context, 'root', ROOT_PASSWORD);
        await page.getByRole('link', { name: 'Admin' }).click();
        await page.waitForURL(`${server.url}/ui/admin`);
        const users = page.getByTestId('users');

        // Search.
        await page.getByRole('searchbox', { name: 'Search users' }).fill('zeta-1');
        await page.getByRole('button', { name: 'Search', exact: true }).click();
        await users.getByText('zeta-1@example.com').waitFor();
        await page.waitForFunction(() => document.querySelectorAll('[data-testid="users"] li').length === 1);

        // Create: a taken username is a message; a new one appears, selected.
        const create = page.getByRole('region', { name: 'Create a user' });
        await create.getByLabel('Username').fill('zeta-1');
        await create.getByRole('button', { name: 'Create user' }).click();
        await create.getByRole('alert').waitFor();
        await create.getByLabel('Username').fill('erin');
        await create.getByLabel('Email').fill('erin@example.com');
        await create.getByLabel('Password').fill(PASSWORD);
        await create.getByRole('button', { name: 'Create user' }).click();
        await create.getByRole('status').filter({ hasText: 'User erin created.' }).waitFor();
        const erin = await server.core.users.getByUsername('erin');
        assert.equal(erin.email, 'erin@example.com');
        assert.equal(erin.role, 'STANDARD');

        const detail = page.getByRole('region', { name: 'User erin' });
        await detail.waitFor();

        // Role.
        await detail.getByLabel('Role').selectOption('ADMIN');
        await detail.getByRole('button', { name: 'Save role' }).click();
        await detail.getByRole('status').filter({ hasText: 'erin is now ADMIN.' }).waitFor();
        assert.equal((await server.core.users.getByUsername('erin')).role, 'ADMIN');
        await detail.getByLabel('Role').selectOption('STANDARD');
        await detail.getByRole('button', { name: 'Save role' }).click();
        await detail.getByRole('status').filter({ hasText: 'erin is now STANDARD.' }).waitFor();

        // Sessions: erin signs in twice through the API; the console lists and revokes them.
        const erinSession = tokensOf(
          await server.request('POST', '/api/auth/login', { body: { username: 'erin', password: PASSWORD } }),
          run.style,
        );
        await server.login('erin');
        // Closed and opened again from a search, the panel reads the user's sessions afresh.
        await detail.getByRole('button', { name: 'Close' }).click();
        await page.getByRole('searchbox', { name: 'Search users' }).fill('erin');
        await page.getByRole('button', { name: 'Search', exact: true }).click();
        await page.getByRole('button', { name: 'Manage erin' }).click();
        await detail.getByTestId('user-sessions').locator('li').nth(1).waitFor();
        assert.equal(await detail.getByTestId('user-sessions').locator('li').count(), 2);
        await detail.getByRole('button', { name: 'Revoke all sessions' }).click();
        await detail.getByRole('status').filter({ hasText: 'Every session of erin is signed out.' }).waitFor();
        await detail.getByText('No active session.').waitFor();
        assert.equal((await server.request('POST', '/api/auth/refresh', { body: { refresh_token: erinSession.refresh } })).status, 401);

        // Disable: erin's API login fails from then on.
        await detail.getByRole('button', { name: 'Disable user' }).click();
        await detail.getByRole('status').filter({ hasText: 'erin is disabled and signed out everywhere.' }).waitFor();
        await detail.getByTestId('user-status').filter({ hasText: 'Disabled' }).waitFor();
        const disabledLogin = await server.request('POST', '/api/auth/login', { body: { username: 'erin', password: PASSWORD } });
        assert.equal(disabledLogin.status, 401);
        assert.deepEqual(
          disabledLogin.body,
          run.style === 'flat'
            ? { error: 'invalid username or password' }
            : { ...disabledLogin.body, error: { code: 'INVALID_CREDENTIALS', message: 'Invalid email or password' } },
        );
        await detail.getByRole('button', { name: 'Enable user' }).click();
        await detail.getByTestId('user-status').filter({ hasText: 'Active' }).waitFor();

        // Reset password: a weak one is refused on the page; a good one works at the API.
        await detail.getByLabel('New password').fill('password1');
        await detail.getByRole('button', { name: 'Set password' }).click();
        await detail.getByRole('alert').filter({ hasText: 'most common passwords' }).waitFor();
        await detail.getByLabel('New password').fill('erin has a new passphrase');
        await detail.getByRole('button', { name: 'Set password' }).click();
        await detail.getByRole('status').filter({ hasText: 'The password of erin is set' }).waitFor();
        assert.equal(
          (await server.request('POST', '/api/auth/login', { body: { username: 'erin', password: 'erin has a new passphrase' } })).status,
          200,
        );

        // Audit log filtered by type, then by user and type.
        const audit = page.getByRole('region', { name: 'Audit log' });
        await audit.getByLabel('Event type').fill('user_disabled');
        await audit.getByRole('button', { name: 'Apply filters' }).click();
        await page.waitForFunction(() => {
          const items = [...document.querySelectorAll('[data-testid="audit"] li strong')].map((e) => e.textContent);
          return items.length === 1 && items[0] === 'user_disabled';
        });
        await audit.getByLabel('User id').fill(String(erin.id));
        await audit.getByLabel('Event type').fill('role_changed');
        await audit.getByRole('button', { name: 'Apply filters' }).click();
        await page.waitForFunction(() => {
          const items = [...document.querySelectorAll('[data-testid="audit"] li strong')].map((e) => e.textContent);
          return items.length === 2 && items.every((t) => t === 'role_changed');
        });
        await audit.getByLabel('Since').fill('2099-01-01T00:00');
        await audit.getByRole('button', { name: 'Apply filters' }).click();
        await audit.getByText('No event matches.').waitFor();
        await audit.getByLabel('Since').fill('');
        await audit.getByLabel('User id').fill('abc');
        await audit.getByRole('button', { name: 'Apply filters' }).click();
        await audit
          .getByRole('alert')
          .filter({ hasText: /^User id must be a user id/ })
          .waitFor();

        // Signing keys: one signs; a rotation adds one, and the old one keeps verifying.
        const keys = page.getByTestId('keys');
        await keys.locator('li').first().waitFor();
        assert.equal(await keys.locator('li').count(), 1);
        await keys.getByText('signing').waitFor();
        await page.getByRole('button', { name: 'Rotate signing key' }).click();
        await page.getByRole('region', { name: 'Signing keys' }).getByRole('status').filter({ hasText: 'New signing key' }).waitFor();
        await keys.locator('li').nth(1).waitFor();
        assert.equal(await keys.locator('li').count(), 2);
        await keys.getByText(/verifying/).waitFor();

        // The console still works after the rotation (the page's token was signed by the old key).
        await page.getByRole('searchbox', { name: 'Search users' }).fill('');
        await page.getByRole('button', { name: 'Search', exact: true }).click();
        await users.getByText('erin@example.com').waitFor();
        await context.close();
      });
    }

    if (run.part === 'sweep')
      test('every page: no serious accessibility violation, no sideways scroll at 375 px', async () => {
        const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        const anonymousPages = [
          '/ui/login',
          '/ui/register',
          '/ui/forgot',
          '/ui/reset-password?token=example-token',
          '/ui/verify-email?token=example-token',
        ];
        for (const path of anonymousPages) {
          const page = await open(context, path);
          await page.getByRole('heading', { level: 1 }).waitFor();
          await page.locator('form').first().waitFor();
          await checkPage(page, path);
          await page.close();
        }
        const page = await signedIn(context, 'root', ROOT_PASSWORD);
        await page.getByTestId('sessions').locator('li').first().waitFor();
        await checkPage(page, '/ui/account');
        await page.goto(server.url + '/ui/admin');
        await page.getByTestId('keys').locator('li').first().waitFor();
        await page.getByTestId('users').locator('li').first().waitFor();
        await page.getByTestId('audit').locator('li').first().waitFor();
        await checkPage(page, '/ui/admin');
        await context.close();
      });

    test('every page every test opened: nothing from another host, no CSP refusal', () => {
      assert.ok(watches.length >= 5, `${watches.length} pages watched`);
      assert.deepEqual(
        watches.flatMap((w) => w.foreignRequests),
        [],
      );
      assert.deepEqual(
        watches.flatMap((w) => w.cspViolations),
        [],
      );
    });

    async function checkPage(page: Page, path: string): Promise<void> {
      await assertAccessible(page, path);
      await page.setViewportSize({ width: 375, height: 800 });
      await assertNoHorizontalScroll(page, `${path} at 375 px`);
      await assertAccessible(page, `${path} at 375 px`);
      await page.setViewportSize({ width: 1280, height: 800 });
      await screenshot(page, path.replace(/^\/ui\//, '').replace(/\?.*$/, ''));
    }
  });
}
