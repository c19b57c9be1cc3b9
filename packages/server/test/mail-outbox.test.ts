/**
 * The durable outbox and its sender (SPEC §10): an SMTP outage delays mail and delivers it once; kill -9 with a
 * message waiting loses nothing and sends it once; two instances on one PostgreSQL never deliver a row twice;
 * no SMTP configured writes `mail_logged` lines and warns once; limits; templates; metrics; configuration.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { ConfigError, parseConfig } from '../src/config.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import {
  PASSWORD,
  type TestDatabase,
  type TestServer,
  createTestDatabase,
  errorOf,
  startTestServer,
  TEST_SECRET,
  TEST_ARGON2,
} from './support/server.ts';
import { TestSmtp, tokenOf } from './support/smtp.ts';
import { waitUntil } from './support/wait.ts';
import { ADMIN, Instance, redisPrefix, skipWithout } from './scale/instances.ts';

/** Polls a condition (the sender works in the background); fails after a generous, scaled wait. */
async function waitFor(what: string, condition: () => Promise<boolean> | boolean): Promise<void> {
  await waitUntil(what, condition, { timeoutMs: 60_000 });
}

async function rowsTo(server: TestServer | RunningServer, address: string) {
  return server.core.store.db.selectFrom('mail_outbox').selectAll().where('recipient', '=', address).execute();
}

describe('SMTP outage', () => {
  let smtp: TestSmtp;
  let server: TestServer;
  before(async () => {
    smtp = await TestSmtp.start();
    server = await startTestServer({ env: { LATCHKEY_SMTP_URL: smtp.url } });
    await server.createUser('ada', { email: 'ada@example.com' });
  });
  after(async () => {
    await server.close();
    await smtp.stop();
  });

  test('SMTP down → request → SMTP up: the message arrives once; readiness never drops', async () => {
    await smtp.down();
    const res = await server.request('POST', '/api/auth/password/forgot', { body: { email: 'ada@example.com' } });
    assert.equal(res.status, 202);
    // The 202 came after the commit: the row is there at once.
    assert.equal((await rowsTo(server, 'ada@example.com')).length, 1);
    await waitFor('a failed attempt', async () => ((await rowsTo(server, 'ada@example.com'))[0]?.attempts ?? 0) >= 1);
    const waiting = (await rowsTo(server, 'ada@example.com'))[0];
    assert.equal(waiting?.status, 'waiting');
    assert.match(waiting?.last_error ?? '', /^(ESOCKET|ECONNREFUSED)$/, 'the error code is kept, nothing more');
    assert.equal((await server.request('GET', '/readyz')).status, 200);
    const metrics = (await server.request('GET', '/metrics')).text;
    assert.match(metrics, /^latchkey_mail_waiting 1$/m);
    assert.match(metrics, /^latchkey_mail_failed_total\{kind="reset-password",outcome="retry"\} [1-9]/m);

    await smtp.up();
    const mail = await smtp.next('ada@example.com');
    assert.ok(tokenOf(mail).length >= 43);
    await waitFor('the row finished', async () => (await rowsTo(server, 'ada@example.com'))[0]?.status === 'sent');
    const sent = (await rowsTo(server, 'ada@example.com'))[0];
    assert.equal(sent?.message, null, 'the body (with its link) is erased once sent');
    assert.equal(smtp.messagesTo('ada@example.com').length, 1);
    const after = (await server.request('GET', '/metrics')).text;
    assert.match(after, /^latchkey_mail_waiting 0$/m);
    assert.match(after, /^latchkey_mail_sent_total\{kind="reset-password"\} 1$/m);
  });
});

describe('kill -9 with a message waiting (SQLite, a real serve process)', () => {
  let smtp: TestSmtp;
  let database: TestDatabase;
  let first: Instance | undefined;
  let second: Instance | undefined;
  before(async () => {
    smtp = await TestSmtp.start();
    database = await createTestDatabase('sqlite');
  });
  after(async () => {
    await first?.stop();
    await second?.stop();
    await smtp.stop();
    await database.drop();
  });

  test('the message is neither lost nor sent twice', async () => {
    await smtp.down();
    const env = { DATABASE_URL: database.url, LATCHKEY_SMTP_URL: smtp.url, LATCHKEY_LIMITS: 'off' };
    first = await Instance.start(env);
    const admin = await first.request('POST', '/api/auth/login', { body: ADMIN });
    const made = await first.request('POST', '/api/admin/users', {
      token: admin.body.token,
      body: { username: 'kit', email: 'kit@example.com', password: PASSWORD },
    });
    assert.equal(made.status, 201, made.text);
    assert.equal((await first.request('POST', '/api/auth/password/forgot', { body: { email: 'kit@example.com' } })).status, 202);

    const file = new SQLite(database.url.slice('sqlite:'.length), { readonly: true });
    const row = () =>
      file.prepare("select status, attempts from mail_outbox where recipient = 'kit@example.com'").all() as {
        status: string;
        attempts: number;
      }[];
    try {
      await waitFor('a failed attempt before the crash', () => (row()[0]?.attempts ?? 0) >= 1);
      await first.crash();
      assert.deepEqual(
        row().map((r) => r.status),
        ['waiting'],
      );

      await smtp.up();
      second = await Instance.start(env);
      const mail = await smtp.next('kit@example.com');
      assert.match(mail.text, /reset-password\?token=/);
      await waitFor('the row sent', () => row()[0]?.status === 'sent');
      assert.equal(smtp.messagesTo('kit@example.com').length, 1);
    } finally {
      file.close();
    }
  });
});

describe('two instances on one PostgreSQL', { skip: skipWithout('postgres') }, () => {
  let smtp: TestSmtp;
  let database: TestDatabase;
  const servers: RunningServer[] = [];
  before(async () => {
    smtp = await TestSmtp.start();
    database = await createTestDatabase('postgres');
    for (let i = 0; i < 2; i++) {
      servers.push(
        await startServer(
          parseConfig({
            PORT: '0',
            DATABASE_URL: database.url,
            LATCHKEY_JWT_SECRET: TEST_SECRET,
            LATCHKEY_LIMITS: 'off',
            LATCHKEY_SMTP_URL: smtp.url,
            LATCHKEY_ADMIN_USERNAME: ADMIN.username,
            LATCHKEY_ADMIN_PASSWORD: ADMIN.password,
          }),
          { logger: false, argon2Cost: TEST_ARGON2 },
        ),
      );
    }
  });
  after(async () => {
    for (const s of servers) await s.close();
    await smtp.stop();
    await database.drop();
  });

  test('messages waiting while SMTP is down are each delivered exactly once when it comes back', async () => {
    const [a, b] = servers as [RunningServer, RunningServer];
    await smtp.down();
    const addresses = Array.from({ length: 12 }, (_, i) => `user${i}@example.com`);
    for (const [i, email] of addresses.entries()) await a.core.accounts.create({ username: `user${i}`, email, password: PASSWORD });
    for (const [i, email] of addresses.entries()) {
      const res = await fetch(`${(i % 2 === 0 ? a : b).url}/api/auth/password/forgot`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email }),
      });
      assert.equal(res.status, 202);
    }
    await smtp.up();
    for (const email of addresses) await smtp.next(email);
    await waitFor('every row sent', async () => {
      const rows = await a.core.store.db.selectFrom('mail_outbox').select('status').execute();
      return rows.length === addresses.length && rows.every((r) => r.status === 'sent');
    });
    for (const email of addresses) assert.equal(smtp.messagesTo(email).length, 1, email);
    assert.equal(smtp.received.length, addresses.length);
  });
});

describe('no SMTP configured', () => {
  let database: TestDatabase;
  let instance: Instance | undefined;
  before(async () => {
    database = await createTestDatabase('sqlite');
  });
  after(async () => {
    await instance?.stop();
    await database.drop();
  });

  test('serve warns once at start, and a message is written to the log as mail_logged', async () => {
    instance = await Instance.start({
      DATABASE_URL: database.url,
      LOG_LEVEL: 'info',
      LATCHKEY_LIMITS: 'off',
      LATCHKEY_PUBLIC_URL: 'http://localhost:9999',
    });
    await instance.waitForOutput(/"event":"mail_not_delivered"/);
    const admin = await instance.request('POST', '/api/auth/login', { body: ADMIN });
    await instance.request('POST', '/api/admin/users', {
      token: admin.body.token,
      body: { username: 'lea', email: 'lea@example.com', password: PASSWORD },
    });
    assert.equal((await instance.request('POST', '/api/auth/password/forgot', { body: { username: 'lea' } })).status, 202);
    await instance.waitForOutput(/"event":"mail_logged"/);
    const line = instance.output.split('\n').find((l) => l.includes('"mail_logged"')) ?? '';
    const logged = JSON.parse(line) as { to: string; subject: string; text: string; html: string };
    assert.equal(logged.to, 'lea@example.com');
    assert.match(logged.text, /http:\/\/localhost:9999\/ui\/reset-password\?token=[A-Za-z0-9_-]{43}/);
    assert.match(logged.html, /<html/);
    assert.ok(!line.includes(PASSWORD));
    assert.equal(instance.output.split('mail_not_delivered').length - 1, 1, 'one warning');
  });
});

for (const store of ['memory', ...(process.env.TEST_REDIS_URL ? ['redis'] : [])] as const) {
  describe(`mail limits (${store})`, () => {
    let smtp: TestSmtp;
    let server: TestServer;
    before(async () => {
      smtp = await TestSmtp.start();
      server = await startTestServer({
        style: 'envelope',
        env: {
          LATCHKEY_SMTP_URL: smtp.url,
          LATCHKEY_LIMITS: 'on',
          LATCHKEY_LIMIT_MAIL_PER_ADDRESS: '4/1m',
          LATCHKEY_LIMIT_MAIL_PER_RECIPIENT: '2/1h',
          ...(store === 'redis' ? { REDIS_URL: process.env.TEST_REDIS_URL ?? '', LATCHKEY_REDIS_PREFIX: redisPrefix() } : {}),
        },
      });
      await server.createUser('max', { email: 'max@example.com' });
    });
    after(async () => {
      await server.close();
      await smtp.stop();
    });

    test('per recipient: past the limit the answer stays 202 and no more mail goes out; per address: 429 with Retry-After', async () => {
      for (let i = 0; i < 3; i++) {
        const res = await server.request('POST', '/api/auth/password/forgot', { body: { email: 'max@example.com' } });
        assert.equal(res.status, 202);
        assert.deepEqual(res.body.data, { status: 'reset_sent' });
      }
      await smtp.next('max@example.com');
      await smtp.next('max@example.com');
      await waitFor('all rows finished', async () => (await rowsTo(server, 'max@example.com')).every((r) => r.status !== 'waiting'));
      assert.deepEqual(
        (await rowsTo(server, 'max@example.com')).map((r) => r.status),
        ['sent', 'sent', 'discarded'],
      );
      assert.equal(smtp.messagesTo('max@example.com').length, 2);

      const fourth = await server.request('POST', '/api/auth/email/resend', { body: { email: 'other@example.com' } });
      assert.equal(fourth.status, 202);
      const fifth = await server.request('POST', '/api/auth/email/resend', { body: { email: 'other@example.com' } });
      assert.equal(fifth.status, 429);
      assert.equal(errorOf(fifth, 'envelope'), 'RATE_LIMITED');
      assert.match(fifth.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    });
  });
}

describe('templates and links', () => {
  let smtp: TestSmtp;
  let server: TestServer;
  before(async () => {
    smtp = await TestSmtp.start();
    const folder = mkdtempSync(join(tmpdir(), 'latchkey-templates-'));
    writeFileSync(
      join(folder, 'reset-password.txt'),
      'Subject: Reset for {{username}} at {{app_name}}\n\nHi {{username}}, go to {{link}} within {{expires_in}}.\n',
    );
    writeFileSync(join(folder, 'reset-password.html'), '<html><body><p>Hi {{username}}</p><a href="{{link}}">reset</a></body></html>');
    server = await startTestServer({
      env: {
        LATCHKEY_SMTP_URL: smtp.url,
        LATCHKEY_MAIL_TEMPLATES: folder,
        LATCHKEY_LINK_URL: 'https://app.example.com/account/{kind}#token={token}',
        LATCHKEY_RESET_TTL: '45m',
        LATCHKEY_APP_NAME: 'Acme Accounts',
      },
    });
    await server.createUser('<b>nan</b>', { email: 'nan@example.com' });
  });
  after(async () => {
    await server.close();
    await smtp.stop();
  });

  test('a template folder replaces the built-in message; values are escaped in HTML; LATCHKEY_LINK_URL shapes the link; LATCHKEY_APP_NAME names the app', async () => {
    await server.request('POST', '/api/auth/password/forgot', { body: { email: 'nan@example.com' } });
    const mail = await smtp.next('nan@example.com');
    assert.equal(mail.subject, 'Reset for <b>nan</b> at Acme Accounts');
    assert.match(
      mail.text,
      /^Hi <b>nan<\/b>, go to https:\/\/app\.example\.com\/account\/reset-password#token=[A-Za-z0-9_-]{43} within 45 minutes\.\n?$/,
    );
    assert.match(mail.html, /<p>Hi &#60;b&#62;nan&#60;\/b&#62;<\/p>/);
    // The built-in messages of other kinds stay.
    await server.request('POST', '/api/auth/email/resend', { body: { email: 'nan@example.com' } });
    assert.equal((await rowsTo(server, 'nan@example.com')).length, 2);
  });
});

describe('mail configuration', () => {
  const base = { DATABASE_URL: 'sqlite::memory:' };
  const refuses = (env: Record<string, string>, variable: string, secret?: string) => {
    assert.throws(
      () => parseConfig({ ...base, ...env }),
      (error: unknown) =>
        error instanceof ConfigError && error.variable === variable && (secret === undefined || !error.message.includes(secret)),
    );
  };

  test('defaults', () => {
    const config = parseConfig({ ...base, PORT: '8081' });
    assert.equal(config.signup, 'off');
    assert.equal(config.smtpUrl, undefined);
    assert.equal(config.mailFrom, 'Latchkey <no-reply@localhost>');
    assert.equal(config.verifyTtlMs, 24 * 3_600_000);
    assert.equal(config.resetTtlMs, 30 * 60_000);
    assert.equal(config.linkUrl, 'http://127.0.0.1:8081/ui/{kind}?token={token}');
    assert.deepEqual(config.limitMailPerAddress, { points: 5, durationMs: 15 * 60_000 });
    assert.deepEqual(config.limitMailPerRecipient, { points: 3, durationMs: 3_600_000 });
  });

  test('bad values name their variable (and never echo an SMTP password)', () => {
    refuses({ LATCHKEY_SIGNUP: 'maybe' }, 'LATCHKEY_SIGNUP');
    refuses({ LATCHKEY_SMTP_URL: 'http://user:s3cr3t-pw@mail.example.com' }, 'LATCHKEY_SMTP_URL', 's3cr3t-pw');
    refuses({ LATCHKEY_LINK_URL: 'https://app.example.com/reset' }, 'LATCHKEY_LINK_URL');
    refuses({ LATCHKEY_LINK_URL: 'javascript:alert({token})' }, 'LATCHKEY_LINK_URL');
    refuses({ LATCHKEY_VERIFY_TTL: 'soon' }, 'LATCHKEY_VERIFY_TTL');
    refuses({ LATCHKEY_RESET_TTL: '0' }, 'LATCHKEY_RESET_TTL');
    refuses({ LATCHKEY_LIMIT_MAIL_PER_ADDRESS: 'lots' }, 'LATCHKEY_LIMIT_MAIL_PER_ADDRESS');
    refuses({ LATCHKEY_LIMIT_MAIL_PER_RECIPIENT: '0/1h' }, 'LATCHKEY_LIMIT_MAIL_PER_RECIPIENT');
  });

  test('an unreadable template folder or an unknown template stops the start, naming LATCHKEY_MAIL_TEMPLATES', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'latchkey-templates-'));
    writeFileSync(join(folder, 'welcome.txt'), 'hi');
    for (const value of [join(folder, 'missing'), folder]) {
      await assert.rejects(
        startTestServer({ env: { LATCHKEY_MAIL_TEMPLATES: value } }),
        (error: unknown) => error instanceof ConfigError && error.variable === 'LATCHKEY_MAIL_TEMPLATES',
      );
    }
  });
});
