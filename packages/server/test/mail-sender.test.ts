/**
 * The mail sender's own guarantees (SPEC §10), against a real SMTP server and a real database, with the sender
 * built as the server builds it: a slow SMTP server and a short lease never make two senders deliver one
 * message; a database that fails to record a send never makes the same sender deliver it again; the retry
 * backoff stays within 24 h. The outage and crash cases through whole servers are in mail-outbox.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { mailMetrics } from '../src/mail/metrics.ts';
import { MailOutbox } from '../src/mail/outbox.ts';
import { MailSender, backoffMs, smtpTransport } from '../src/mail/sender.ts';
import { type Store, openStore } from '../src/store/database.ts';
import { type TestDatabase, createTestDatabase } from './support/server.ts';
import { TestSmtp } from './support/smtp.ts';
import { scaled, waitUntil } from './support/wait.ts';

const DAY_MS = 24 * 3_600_000;

test('the retry backoff doubles from 1 s and, jitter included, never passes 24 h', () => {
  assert.equal(backoffMs(1, 0.5), 1000);
  assert.equal(backoffMs(2, 0.5), 2000);
  assert.equal(backoffMs(1, 0), 800);
  assert.equal(backoffMs(1, 1), 1200);
  for (const attempts of [18, 25, 40]) {
    assert.equal(backoffMs(attempts, 0.999), DAY_MS, `attempt ${attempts}`);
    assert.equal(backoffMs(attempts, 0), 0.8 * DAY_MS, `attempt ${attempts}`);
  }
});

describe('the mail sender against a slow SMTP server and a failing database', () => {
  let smtp: TestSmtp;
  let database: TestDatabase;
  let store: Store;
  let outbox: MailOutbox;
  const senders: MailSender[] = [];
  const events: string[] = [];
  const log = {
    info: () => {},
    warn: (obj: object) => void events.push(String((obj as { event?: unknown }).event)),
  };

  before(async () => {
    smtp = await TestSmtp.start();
    database = await createTestDatabase('sqlite');
    store = await openStore(database.url);
    await store.migrate();
    outbox = new MailOutbox(store.db, undefined);
  });

  after(async () => {
    for (const sender of senders) await sender.stop();
    await store?.close();
    await database?.drop();
    await smtp?.stop();
  });

  function sender(leaseMs: number): MailSender {
    const made = new MailSender(
      outbox,
      smtpTransport(smtp.url),
      mailMetrics(new Registry(), async () => 0),
      log,
      {
        from: 'Latchkey <no-reply@localhost>',
        pollMs: 20,
        leaseMs,
      },
    );
    senders.push(made);
    return made;
  }

  async function queue(addresses: readonly string[]): Promise<void> {
    await store.db.transaction().execute(async (trx) => {
      for (const to of addresses) {
        await outbox.add(trx, { kind: 'reset-password', to, deliver: true, message: { subject: 'Reset', text: `for ${to}`, html: '' } });
      }
    });
  }

  const statuses = async (): Promise<string[]> =>
    (await store.db.selectFrom('mail_outbox').select('status').orderBy('id').execute()).map((r) => r.status);

  test('two senders, a batch slower than the lease: every message is delivered exactly once', async () => {
    // A send takes ~150 ms, a batch of 20 three seconds or more: longer than the lease, which still covers any
    // one send many times over (scaled with the machine's load, as the send slows with it).
    smtp.acceptDelayMs = 150;
    const addresses = Array.from({ length: 20 }, (_, i) => `slow${i}@example.com`);
    await queue(addresses);
    const lease = scaled(1500);
    const a = sender(lease);
    const b = sender(lease);
    a.start();
    b.start();
    await waitUntil('every message sent', async () => (await statuses()).every((s) => s === 'sent'), { timeoutMs: 30_000 });
    await Promise.all([a.stop(), b.stop()]);
    for (const address of addresses) assert.equal(smtp.messagesTo(address).length, 1, address);
    smtp.acceptDelayMs = 0;
    await store.db.deleteFrom('mail_outbox').execute();
  });

  test('a send the database fails to record is recorded later, never sent again by the same sender', async () => {
    // A real failure of the database: a trigger refuses the first "sent" until it is dropped.
    await sql`create trigger refuse_sent before update of status on mail_outbox when new.status = 'sent'
      begin select raise(abort, 'the database refused the write'); end`.execute(store.db);
    await queue(['kept@example.com']);
    const only = sender(200);
    only.start();
    await waitUntil(
      'the send that could not be recorded',
      () => events.includes('mail_sender_error') && smtp.messagesTo('kept@example.com').length > 0,
    );
    await sql`drop trigger refuse_sent`.execute(store.db);
    await waitUntil('the send recorded', async () => (await statuses()).every((s) => s === 'sent'));
    await only.stop();
    assert.equal(smtp.messagesTo('kept@example.com').length, 1);
  });
});
