/**
 * The pages of SPEC §10 and §11 in Chromium, end to end over the real endpoints: sign-up (open and with
 * verification), the links in mail (delivered to a real SMTP server here), forgot/reset password, TOTP
 * with its QR code and recovery codes, passkeys through Chromium's virtual authenticator, and the admin's
 * "Reset factors". Needs the endpoints of h12 (§10) and h13 (§11).
 *
 * The browser talks to `localhost` (not 127.0.0.1): WebAuthn refuses an IP address as the RP ID.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { PASSWORD, type TestServer, startTestServer } from './support/server.ts';
import { type ReceivedMail, TestSmtp } from './support/smtp.ts';
import {
  CHROMIUM_MISSING,
  type PageWatch,
  assertAccessible,
  assertNoHorizontalScroll,
  ensureUiBuilt,
  launchChromium,
  openPage,
  screenshot,
} from './support/ui.ts';

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** The link of `kind` (`verify-email`, `reset-password`) in a mailed message, as the person would click it. */
function linkIn(mail: ReceivedMail, kind: string): string {
  const link = new RegExp(`https?://[^\\s"<>]+/ui/${kind}\\?token=[A-Za-z0-9_-]+`).exec(mail.text)?.[0];
  assert.ok(link, `no ${kind} link in "${mail.subject}"`);
  return link;
}

describe('hosted pages of §10 and §11 in Chromium', { skip: CHROMIUM_MISSING }, () => {
  let server: TestServer;
  let mailbox: TestSmtp;
  let browser: Browser;
  let base: string;
  const watches: PageWatch[] = [];

  before(async () => {
    await ensureUiBuilt();
    mailbox = await TestSmtp.start();
    const port = await freePort();
    base = `http://localhost:${port}`;
    server = await startTestServer({
      env: {
        PORT: String(port),
        LATCHKEY_PUBLIC_URL: base,
        LATCHKEY_SIGNUP: 'verify',
        LATCHKEY_SMTP_URL: mailbox.url,
        LATCHKEY_APP_NAME: 'Acme Accounts',
      },
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await mailbox?.stop();
  });

  async function open(context: BrowserContext, url: string): Promise<Page> {
    const { page, watch } = await openPage(context, base);
    watches.push(watch);
    await page.goto(url.startsWith('http') ? url : base + url);
    return page;
  }

  async function signIn(page: Page, username: string, password: string): Promise<void> {
    await page.getByLabel('Username or email').fill(username);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  test('sign-up with verification: "Create account", the mailed link, "Verify" signs in; a spent link is a message', async () => {
    const context = await browser.newContext();
    const page = await open(context, '/ui/register');
    await page.getByLabel('Username').fill('newcomer');
    await page.getByLabel('Email').fill('newcomer@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('status').filter({ hasText: 'Check your inbox' }).waitFor();

    // Before the address is confirmed, the right password is told apart from a wrong one.
    const login = await open(context, '/ui/login');
    await signIn(login, 'newcomer', PASSWORD);
    await login.getByRole('alert').filter({ hasText: 'Confirm your email address first' }).waitFor();

    // A taken username is a message, not a second account.
    await page.getByLabel('Username').fill('newcomer');
    await page.getByLabel('Email').fill('other@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('alert').filter({ hasText: 'Username already taken.' }).waitFor();

    const link = linkIn(await mailbox.next('newcomer@example.com'), 'verify-email');
    assert.ok(link.startsWith(`${base}/ui/verify-email?token=`), link);
    const verify = await open(context, link);
    await verify.getByRole('button', { name: 'Verify' }).click();
    await verify.waitForURL(`${base}/ui/account`);
    await verify.getByTestId('profile-username').filter({ hasText: 'newcomer' }).waitFor();
    await verify.getByText('newcomer@example.com (verified)').waitFor();

    const again = await open(context, link);
    await again.getByRole('button', { name: 'Verify' }).click();
    await again.getByRole('alert').filter({ hasText: 'This link is invalid or has expired.' }).waitFor();
    await context.close();
  });

  test('forgot and reset password: "Send link", the mailed link, "Set password"; a spent link is a message', async () => {
    await server.createUser('forgetful', { email: 'forgetful@example.com' });
    const context = await browser.newContext();
    const page = await open(context, '/ui/forgot');
    await page.getByLabel('Email').fill('forgetful@example.com');
    await page.getByRole('button', { name: 'Send link' }).click();
    await page.getByRole('status').filter({ hasText: 'a link to set a new password is on its way' }).waitFor();
    // An unknown address gets the same answer.
    await page.getByLabel('Email').fill('nobody@example.com');
    await page.getByRole('button', { name: 'Send link' }).click();
    await page.getByRole('status').filter({ hasText: 'If an account uses nobody@example.com' }).waitFor();

    const link = linkIn(await mailbox.next('forgetful@example.com'), 'reset-password');
    const reset = await open(context, link);
    await reset.getByLabel('New password').fill('password1');
    await reset.getByRole('button', { name: 'Set password' }).click();
    await reset.getByRole('alert').filter({ hasText: 'most common passwords' }).waitFor();
    await reset.getByLabel('New password').fill('a fresh start passphrase');
    await reset.getByRole('button', { name: 'Set password' }).click();
    await reset.getByRole('status').filter({ hasText: 'Your new password is set' }).waitFor();
    assert.equal(
      (await server.request('POST', '/api/auth/login', { body: { username: 'forgetful', password: 'a fresh start passphrase' } })).status,
      200,
    );

    const spent = await open(context, link);
    await spent.getByLabel('New password').fill('yet another passphrase');
    await spent.getByRole('button', { name: 'Set password' }).click();
    await spent.getByRole('alert').filter({ hasText: 'This link is invalid or has expired.' }).waitFor();
    await context.close();
  });

  test('TOTP: QR code and secret, "Verify" turns it on with recovery codes; sign-in then asks for a "Code"; the admin resets factors', async () => {
    await server.createUser('cautious');
    const context = await browser.newContext();
    const page = await open(context, '/ui/login');
    await signIn(page, 'cautious', PASSWORD);
    await page.waitForURL(`${base}/ui/account`);
    const section = page.getByRole('region', { name: 'Authenticator app' });
    await section.getByLabel('Current password').fill(PASSWORD);
    await section.getByRole('button', { name: 'Set up authenticator app' }).click();
    await section.getByRole('img', { name: 'QR code for your authenticator app' }).locator('svg').waitFor();
    const secretText = (await section.getByTestId('totp-secret').textContent()) ?? '';
    assert.match(secretText, /^[A-Z2-7]{16,}$/);
    const secret = Secret.fromBase32(secretText);
    await screenshot(page, 'account-totp');

    await section.getByLabel('Code', { exact: true }).fill('000000');
    await section.getByRole('button', { name: 'Verify' }).click();
    await section.getByRole('alert').filter({ hasText: 'That code is not right.' }).waitFor();
    await section.getByLabel('Code', { exact: true }).fill(TOTP.generate({ secret }));
    await section.getByRole('button', { name: 'Verify' }).click();
    await section.getByRole('status').filter({ hasText: 'Your authenticator app is on.' }).waitFor();
    const codes = await section.getByTestId('recovery-codes').locator('li').allTextContents();
    assert.equal(codes.length, 10);

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/ui/login`);
    await signIn(page, 'cautious', PASSWORD);
    await page.getByLabel('Code').waitFor();
    await assertAccessible(page, 'the second step');
    await screenshot(page, 'login-code');
    await page.getByLabel('Code').fill('123456');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('alert').filter({ hasText: 'That code is not right.' }).waitFor();
    // The next step's code: within the allowed drift, and not the one already spent on "Verify" above.
    await page.getByLabel('Code').fill(TOTP.generate({ secret, timestamp: Date.now() + 30_000 }));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${base}/ui/account`);

    // A recovery code works once.
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/ui/login`);
    await signIn(page, 'cautious', PASSWORD);
    await page.getByLabel('Code').fill(codes[0] ?? '');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${base}/ui/account`);

    // A mailed link proves the mailbox, not the second factor: "Verify" on the link's page hands over to the
    // sign-in page's second step, and only a code (here the next recovery code) signs in.
    const email = page.getByRole('region', { name: 'Email' });
    await email.getByLabel('Email', { exact: true }).fill('cautious@example.com');
    await email.getByLabel('Current password').fill(PASSWORD);
    await email.getByRole('button', { name: 'Send link' }).click();
    await email.getByRole('status').waitFor();
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/ui/login`);
    await page.goto(linkIn(await mailbox.next('cautious@example.com'), 'verify-email'));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByLabel('Code').waitFor();
    assert.equal(new URL(page.url()).pathname, '/ui/login');
    assert.equal(
      (await context.cookies(base)).find((c) => c.name === 'latchkey_refresh'),
      undefined,
    );
    await page.getByLabel('Code').fill(codes[1] ?? '');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${base}/ui/account`);
    await page.getByText('cautious@example.com').first().waitFor();

    // The admin's "Reset factors": the next sign-in has no second step.
    const admin = await browser.newContext();
    const adminPage = await open(admin, '/ui/login');
    await signIn(adminPage, 'root', 'root-password-for-tests');
    await adminPage.waitForURL(`${base}/ui/account`);
    await adminPage.goto(`${base}/ui/admin`);
    await adminPage.getByRole('searchbox', { name: 'Search users' }).fill('cautious');
    await adminPage.getByRole('button', { name: 'Search', exact: true }).click();
    await adminPage.getByRole('button', { name: 'Manage cautious' }).click();
    const detail = adminPage.getByRole('region', { name: 'User cautious' });
    await detail.getByText('authenticator app ·').waitFor();
    await detail.getByRole('button', { name: 'Reset factors' }).click();
    await detail.getByRole('status').filter({ hasText: 'The second factors of cautious are removed.' }).waitFor();
    const plain = await server.request('POST', '/api/auth/login', { body: { username: 'cautious', password: PASSWORD } });
    assert.equal(plain.status, 200);
    assert.equal(typeof plain.body.token, 'string');
    await admin.close();
    await context.close();
  });

  test('passkeys: "Add passkey" with a virtual authenticator, then "Sign in with a passkey" without a password', async () => {
    await server.createUser('keyholder');
    const context = await browser.newContext();
    const page = await open(context, '/ui/login');
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    await signIn(page, 'keyholder', PASSWORD);
    await page.waitForURL(`${base}/ui/account`);
    const section = page.getByRole('region', { name: 'Passkeys' });
    await section.getByLabel('Passkey name').fill('Test laptop');
    await section.getByRole('button', { name: 'Add passkey' }).click();
    await section.getByRole('status').filter({ hasText: 'Passkey added.' }).waitFor();
    await section.getByTestId('passkeys').getByText('Test laptop').waitFor();

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/ui/login`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(`${base}/ui/account`);
    await page.getByTestId('profile-username').filter({ hasText: 'keyholder' }).waitFor();

    // Removed, it no longer signs in.
    await section.getByRole('button', { name: 'Remove passkey Test laptop' }).click();
    await section.getByRole('status').filter({ hasText: 'Passkey removed.' }).waitFor();
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/ui/login`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('alert').waitFor();
    assert.equal(page.url(), `${base}/ui/login`);
    await context.close();
  });

  test('these pages too: no serious accessibility violation, no sideways scroll, nothing from another host, no CSP refusal', async () => {
    const context = await browser.newContext();
    for (const path of ['/ui/register', '/ui/forgot', '/ui/reset-password?token=x', '/ui/verify-email?token=x']) {
      const page = await open(context, path);
      await page.locator('form').first().waitFor();
      await assertAccessible(page, path);
      await page.setViewportSize({ width: 375, height: 800 });
      await assertNoHorizontalScroll(page, path);
      await page.close();
    }
    assert.deepEqual(
      watches.flatMap((w) => w.foreignRequests),
      [],
    );
    assert.deepEqual(
      watches.flatMap((w) => w.cspViolations),
      [],
    );
    await context.close();
  });
});

describe('a sign-in that LATCHKEY_MFA obliges to set up a second factor, in Chromium', { skip: CHROMIUM_MISSING }, () => {
  let server: TestServer;
  let browser: Browser;
  let base: string;

  before(async () => {
    await ensureUiBuilt();
    const port = await freePort();
    base = `http://localhost:${port}`;
    server = await startTestServer({ env: { PORT: String(port), LATCHKEY_PUBLIC_URL: base, LATCHKEY_MFA: 'all' } });
    await server.createUser('obliged');
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('the sign-in page sets up the authenticator app with the enrolment-only token, then the next sign-in asks for a "Code"', async () => {
    const context = await browser.newContext();
    const { page, watch } = await openPage(context, base);
    await page.goto(`${base}/ui/login`);
    await page.getByLabel('Username or email').fill('obliged');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Set up authenticator app' }).click();
    await page.getByRole('img', { name: 'QR code for your authenticator app' }).locator('svg').waitFor();
    await assertAccessible(page, 'the enrolment a policy asks for');
    const secret = Secret.fromBase32((await page.getByTestId('totp-secret').textContent()) ?? '');
    await page.getByLabel('Code', { exact: true }).fill('000000');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('alert').filter({ hasText: 'That code is not right.' }).waitFor();
    await page.getByLabel('Code', { exact: true }).fill(TOTP.generate({ secret }));
    await page.getByRole('button', { name: 'Verify' }).click();
    // allTextContents does not wait: wait for the list first, then count it.
    await page.getByTestId('recovery-codes').locator('li').first().waitFor();
    assert.equal((await page.getByTestId('recovery-codes').locator('li').allTextContents()).length, 10);
    await page.getByRole('button', { name: 'Sign in again' }).click();

    // The enrolment-only token opened no usable session: this sign-in has the second step.
    await page.getByLabel('Username or email').fill('obliged');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByLabel('Code').fill(TOTP.generate({ secret, timestamp: Date.now() + 30_000 }));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${base}/ui/account`);
    assert.deepEqual(watch.foreignRequests, []);
    assert.deepEqual(watch.cspViolations, []);
    await context.close();
  });
});
