/**
 * End to end in Debian's Chromium: Latchkey, the jobs API and the built page, driven by playwright-core.
 * The page is the one `npm run build` made (built again in a temporary folder when its source is newer);
 * `@latchkey/verify` (used by the jobs API under Node) is built from source first when its dist/ is missing or
 * older than its source.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, type Page, chromium } from 'playwright-core';
import type { Stack } from '../src/stack.ts';
import { CHROMIUM, CHROMIUM_ARGS, artifacts, chromiumMissing, builtPage, ensureVerifyBuilt } from './support/chromium.ts';

describe('the demo page in Chromium', { skip: chromiumMissing }, () => {
  let stack: Stack;
  let browser: Browser;
  let workDir: string;
  let built: { dir: string; temporary: boolean } | undefined;

  before(async () => {
    ensureVerifyBuilt();
    workDir = mkdtempSync(join(tmpdir(), 'latchkey-browser-'));
    built = await builtPage();
    const { startStack } = await import('../src/stack.ts');
    stack = await startStack({
      pageDir: built.dir,
      databaseUrl: `sqlite:${join(workDir, 'latchkey.db')}`,
      // Two-second access tokens: they expire during the test, and every call is due for a refresh.
      env: { LATCHKEY_ACCESS_TTL: '2s' },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
    });
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    if (built?.temporary) rmSync(built.dir, { recursive: true, force: true });
  });

  async function openTab(context: Awaited<ReturnType<Browser['newContext']>>): Promise<Page> {
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(stack.pageUrl);
    return page;
  }

  test('sign in, see the jobs, keep working after the token expires, and log out of every tab at once', async () => {
    const context = await browser.newContext();
    const tabA = await openTab(context);
    const refreshes: number[] = [];
    tabA.on('request', (request) => {
      if (request.url() === `${stack.latchkey.url}/api/auth/refresh`) refreshes.push(Date.now());
    });

    // Nobody is signed in: the page sends us to its login form.
    await tabA.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.match(tabA.url(), /#\/login$/);

    // A wrong password is told apart from other failures.
    await tabA.getByLabel('Username or email').fill('admin');
    await tabA.getByLabel('Password').fill('not-the-password');
    await tabA.getByRole('button', { name: 'Sign in' }).click();
    await tabA.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();

    await tabA.getByLabel('Password').fill(stack.latchkey.generatedAdminPassword ?? '');
    await tabA.getByRole('button', { name: 'Sign in' }).click();
    await tabA.getByTestId('who').filter({ hasText: 'Signed in as admin (ADMIN)' }).waitFor();
    await tabA.getByTestId('jobs').getByText('Backend engineer (TypeScript)').waitFor();
    assert.equal(await tabA.getByTestId('jobs').locator('tr').count(), 3);
    assert.match(tabA.url(), /#\/$/);
    await tabA.getByTestId('sessions').getByText('This browser').waitFor();

    // The refresh token never reached the page's JavaScript: only the HttpOnly cookie holds it.
    const cookies = await context.cookies(stack.latchkey.url + '/api/auth');
    const refreshCookie = cookies.find((c) => c.name === 'latchkey_refresh');
    assert.equal(refreshCookie?.httpOnly, true);
    assert.equal(await tabA.evaluate(() => document.cookie.includes('latchkey_refresh')), false);
    assert.equal(await tabA.evaluate(() => JSON.stringify(localStorage).includes('eyJ')), false);

    // Let the access token expire, then use the page: it refreshes silently and keeps working.
    await tabA.waitForTimeout(2500);
    const before = refreshes.length;
    const jobsResponse = tabA.waitForResponse((r) => r.url() === `${stack.jobsUrl}/api/jobs`);
    await tabA.getByRole('button', { name: 'Reload jobs' }).click();
    assert.equal((await jobsResponse).status(), 200);
    assert.ok(refreshes.length > before, 'a silent refresh happened');
    assert.equal(await tabA.getByTestId('jobs').locator('tr').count(), 3);
    assert.match(tabA.url(), /#\/$/);

    // A second tab of the same browser is signed in through the cookie.
    const tabB = await openTab(context);
    await tabB.getByTestId('who').filter({ hasText: 'Signed in as admin' }).waitFor();
    await tabB.getByTestId('jobs').getByText('Site reliability engineer').waitFor();

    mkdirSync(artifacts, { recursive: true });
    await tabA.screenshot({ path: join(artifacts, 'web-demo-signed-in.png'), fullPage: true });

    // Log out in tab A: tab B goes to the login page by itself.
    await tabA.getByRole('button', { name: 'Log out' }).click();
    await tabA.getByRole('button', { name: 'Sign in' }).waitFor();
    await tabB.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.match(tabB.url(), /#\/login$/);
    assert.equal(await tabB.getByTestId('jobs').count(), 0);
    await tabB.screenshot({ path: join(artifacts, 'web-demo-other-tab-after-logout.png') });

    // The session is over on the server too: a reload stays signed out.
    await tabB.reload();
    await tabB.getByRole('button', { name: 'Sign in' }).waitFor();
    await context.close();
  });
});
