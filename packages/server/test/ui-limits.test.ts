/** The sign-in page under SPEC §6's limits, in Chromium: a blocked attempt says how long to wait, even with the right password. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { STYLES, type TestServer, startTestServer } from './support/server.ts';
import { CHROMIUM_MISSING, ensureUiBuilt, launchChromium, openPage } from './support/ui.ts';

describe('the sign-in page when the address is blocked', { skip: CHROMIUM_MISSING }, () => {
  let browser: Browser;
  before(async () => {
    await ensureUiBuilt();
    browser = await launchChromium();
  });
  after(() => browser?.close());

  for (const style of STYLES) {
    test(`${style} style: "Too many attempts" with the seconds of Retry-After, then the right password is refused too`, async () => {
      const server: TestServer = await startTestServer({
        style,
        env: { LATCHKEY_LIMITS: 'on', LATCHKEY_LIMIT_LOGIN_PAIR: '2/15m', LATCHKEY_LIMIT_LOGIN_PER_ADDRESS: '1000/1m' },
      });
      try {
        const context = await browser.newContext();
        const { page } = await openPage(context, server.url);
        await page.goto(server.url + '/ui/login');
        const attempt = async (password: string) => {
          await page.getByLabel('Username or email').fill('root');
          await page.getByLabel('Password', { exact: true }).fill(password);
          const answer = page.waitForResponse((r) => r.url() === `${server.url}/api/auth/login`);
          await page.getByRole('button', { name: 'Sign in', exact: true }).click();
          return answer;
        };
        for (let i = 0; i < 2; i += 1) {
          assert.equal((await attempt('wrong password')).status(), 401);
          await page.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();
        }
        const blocked = await attempt('root-password-for-tests');
        assert.equal(blocked.status(), 429);
        const seconds = Number(await blocked.headerValue('retry-after'));
        assert.ok(seconds > 0);
        await page
          .getByRole('alert')
          .filter({ hasText: `Too many attempts. Try again in ${seconds} seconds.` })
          .waitFor();
        assert.equal(page.url(), `${server.url}/ui/login`);
        await context.close();
      } finally {
        await server.close();
      }
    });
  }
});
