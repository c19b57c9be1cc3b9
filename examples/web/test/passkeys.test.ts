/**
 * Passkeys in Debian's Chromium through the demo page: DevTools' virtual authenticator (CTAP2, internal
 * transport, resident keys, user verification) stands in for the platform authenticator. Register a passkey,
 * sign out, sign in with the passkey alone, then use it as the second factor after a password.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import type { Stack } from '../src/stack.ts';
import { CHROMIUM, CHROMIUM_ARGS, artifacts, chromiumMissing, builtPage, ensureVerifyBuilt } from './support/chromium.ts';

describe('passkeys on the demo page in Chromium', { skip: chromiumMissing }, () => {
  let stack: Stack;
  let browser: Browser;
  let workDir: string;
  let built: { dir: string; temporary: boolean } | undefined;

  before(async () => {
    ensureVerifyBuilt();
    workDir = mkdtempSync(join(tmpdir(), 'latchkey-passkeys-'));
    built = await builtPage();
    const { startStack } = await import('../src/stack.ts');
    stack = await startStack({ pageDir: built.dir, databaseUrl: `sqlite:${join(workDir, 'latchkey.db')}` });
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

  test('register a passkey, sign out, sign in with it alone, then use it as the second factor', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    // localhost, not 127.0.0.1: browsers refuse WebAuthn on an IP address.
    await page.goto(stack.passkeyPageUrl);

    await page.getByLabel('Username or email').fill('admin');
    await page.getByLabel('Password').fill(stack.latchkey.generatedAdminPassword ?? '');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByTestId('who').filter({ hasText: 'Signed in as admin (ADMIN)' }).waitFor();
    await page.getByTestId('amr').filter({ hasText: 'Signed in with: pwd' }).waitFor();

    // Register: the passkey shows in the list, and the authenticator holds a discoverable credential.
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByTestId('passkeys').getByText('This browser').waitFor();
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0]?.isResidentCredential, true);
    const user = await stack.latchkey.core.users.getByUsername('admin');
    assert.equal(await stack.latchkey.core.mfa.passkeys.count(user.id), 1);

    // Sign out, then sign in with the passkey alone.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Continue with a passkey' }).click();
    await page.getByTestId('who').filter({ hasText: 'Signed in as admin (ADMIN)' }).waitFor();
    await page.getByTestId('amr').filter({ hasText: 'Signed in with: hwk user' }).waitFor();
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'web-demo-passkey-signed-in.png'), fullPage: true });

    // A password now needs the second step; the passkey finishes it.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Username or email').fill('admin');
    await page.getByLabel('Password').fill(stack.latchkey.generatedAdminPassword ?? '');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Second step' }).waitFor();
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.getByTestId('who').filter({ hasText: 'Signed in as admin (ADMIN)' }).waitFor();
    await page.getByTestId('amr').filter({ hasText: 'Signed in with: pwd hwk' }).waitFor();

    // The authenticator's counter moved with each assertion, and the server kept it.
    const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    const stored = await stack.latchkey.core.store.db.selectFrom('passkeys').select('counter').executeTakeFirstOrThrow();
    assert.equal(Number(stored.counter), after.credentials[0]?.signCount);
    assert.ok(Number(stored.counter) >= 2);
    await context.close();
  });
});
