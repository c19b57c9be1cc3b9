/**
 * What the accounts-by-email tests share (accounts-email.test.ts, accounts-email-recovery.test.ts): a server in
 * verify mode that mails through a test SMTP server, and the readers of what it answers and sends.
 */
import assert from 'node:assert/strict';
import { type Engine, type HttpResult, PASSWORD, type Style, type TestServer, startTestServer } from './server.ts';
import { after, before } from 'node:test';
import { type ReceivedMail, TestSmtp } from './smtp.ts';
import { waitUntil } from './wait.ts';

export const NEW_PASSWORD = 'a-brand-new-passphrase-7';

/** A server with LATCHKEY_SIGNUP=verify whose mail goes to `smtp`, with links to https://auth.example.com. */
export function startVerifyMode(style: Style, engine: Engine, smtp: TestSmtp): Promise<TestServer> {
  return startTestServer({
    style,
    engine,
    env: {
      LATCHKEY_SIGNUP: 'verify',
      LATCHKEY_SMTP_URL: smtp.url,
      LATCHKEY_PUBLIC_URL: 'https://auth.example.com',
      LATCHKEY_MAIL_FROM: 'Auth <auth@example.com>',
    },
  });
}

/** The body a style gives `{status}` (envelope: in `data`, with `error: null`). */
export function statusOf(result: HttpResult, style: Style): unknown {
  if (style === 'flat') return result.body;
  assert.equal(result.body.error, null);
  assert.deepEqual(Object.keys(result.body.meta).sort(), ['requestId', 'timestamp']);
  return result.body.data;
}

export function dataOf(result: HttpResult, style: Style): any {
  return style === 'flat' ? result.body : result.body.data;
}

/** Every part a user reads: subject, plain text and HTML; and never a password. */
export function assertWellFormed(mail: ReceivedMail, passwords: readonly string[] = [PASSWORD, NEW_PASSWORD]): void {
  assert.ok(mail.subject.length > 0);
  assert.ok(mail.text.length > 0, 'a plain-text part');
  assert.match(mail.html, /<html/, 'an HTML part');
  for (const p of passwords) {
    assert.ok(!mail.text.includes(p) && !mail.html.includes(p), 'no password in the message');
  }
}

/**
 * In a describe: an SMTP server and a verify-mode server mailing through it, started before its tests and
 * closed after them. Read `server` and `smtp` inside the tests (they exist once `before` has run).
 */
export function verifyModeServer(style: Style, engine: Engine): { readonly smtp: TestSmtp; readonly server: TestServer } {
  const env: { smtp?: TestSmtp; server?: TestServer } = {};
  before(async () => {
    env.smtp = await TestSmtp.start();
    env.server = await startVerifyMode(style, engine, env.smtp);
  });
  after(async () => {
    await env.server?.close();
    await env.smtp?.stop();
  });
  return {
    get smtp() {
      if (!env.smtp) throw new Error('the SMTP server starts in before()');
      return env.smtp;
    },
    get server() {
      if (!env.server) throw new Error('the server starts in before()');
      return env.server;
    },
  };
}

export const expectedError = (style: Style, flatSentence: string, code: string) => (style === 'flat' ? flatSentence : code);

export async function outboxTo(server: TestServer, address: string) {
  return server.core.store.db.selectFrom('mail_outbox').selectAll().where('recipient', '=', address).execute();
}

/** Polls a condition (the sender works in the background); fails after a generous wait (scaled: wait.ts). */
export async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  await waitUntil('the outbox reaches the expected state', condition, { timeoutMs: 30_000 });
}
