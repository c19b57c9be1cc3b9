/**
 * Accounts by email (SPEC §10) over real HTTP, a real database and a real SMTP server: sign-up in the three
 * modes, verification and resend, link tokens, and every error row of §10 on those routes. The forgotten
 * password, reset and email change are in accounts-email-recovery.test.ts (support/accounts-email.ts: what both share).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashLinkToken } from '../src/auth/email-links.ts';
import { PASSWORD, type TestServer, errorOf, matrix, startTestServer, tokensOf } from './support/server.ts';
import { TestSmtp, tokenOf } from './support/smtp.ts';
import {
  NEW_PASSWORD,
  assertWellFormed,
  dataOf,
  expectedError,
  outboxTo,
  verifyModeServer,
  statusOf,
  waitFor,
} from './support/accounts-email.ts';

for (const { style, engine, name } of matrix()) {
  describe(`accounts by email, verify mode: sign-up and verification (${name})`, () => {
    const env = verifyModeServer(style, engine);
    const err = (flatSentence: string, code: string) => expectedError(style, flatSentence, code);
    const post = (path: string, body: unknown, token?: string) =>
      env.server.request('POST', `/api/auth${path}`, { body, ...(token === undefined ? {} : { token }) });

    test('sign-up mails a link; before it the right password is 403 EMAIL_NOT_VERIFIED, a wrong one 401; the link signs in once', async () => {
      const res = await post('/register', { username: 'ada', email: 'Ada@Example.com', password: PASSWORD });
      assert.equal(res.status, 202, res.text);
      assert.deepEqual(statusOf(res, style), { status: 'verification_sent' });

      const mail = await env.smtp.next('ada@example.com');
      assertWellFormed(mail);
      assert.equal(mail.parsed.from?.value[0]?.address, 'auth@example.com');
      assert.match(mail.text, /https:\/\/auth\.example\.com\/ui\/verify-email\?token=[A-Za-z0-9_-]{43}/);
      const token = tokenOf(mail);
      assert.ok(mail.html.includes(`https://auth.example.com/ui/verify-email?token=${token}`));
      // Only the hash is stored.
      const stored = await env.server.core.store.db
        .selectFrom('link_tokens')
        .selectAll()
        .where('token_hash', '=', hashLinkToken(token))
        .executeTakeFirst();
      assert.equal(stored?.purpose, 'verify_email');
      assert.equal(
        await env.server.core.store.db.selectFrom('link_tokens').select('token_hash').where('token_hash', '=', token).executeTakeFirst(),
        undefined,
      );

      const early = await post('/login', { username: 'ada', password: PASSWORD });
      assert.equal(early.status, 403);
      assert.equal(errorOf(early, style), err('email not verified', 'EMAIL_NOT_VERIFIED'));
      const wrong = await post('/login', { username: 'ada', password: 'not-the-password' });
      assert.equal(wrong.status, 401);

      const verified = await post('/email/verify', { token });
      assert.equal(verified.status, 200, verified.text);
      assert.match(verified.headers.get('set-cookie') ?? '', /latchkey_refresh=/);
      const { access } = tokensOf(verified, style);
      const me = await env.server.request('GET', '/api/auth/me', { token: access });
      assert.equal(dataOf(me, style)[style === 'flat' ? 'email_verified' : 'emailVerified'], true);
      assert.equal(dataOf(me, style).email, 'Ada@Example.com');

      const again = await post('/email/verify', { token });
      assert.equal(again.status, 400);
      assert.equal(errorOf(again, style), err('invalid or expired token', 'INVALID_TOKEN'));
      assert.equal((await post('/login', { username: 'ada', password: PASSWORD })).status, 200);

      const types = (await env.server.core.audit.list({ userId: Number(dataOf(me, style).id) })).items.map((e) => e.type);
      assert.ok(types.includes('signup') && types.includes('email_verified'), types.join());
    });

    test('sign-up with a known address answers the same 202, mails a signup-exists notice and makes no second account', async () => {
      await env.server.createUser('bea', { email: 'bea@example.com' });
      const res = await post('/register', { username: 'bea-two', email: 'BEA@example.com', password: PASSWORD });
      assert.equal(res.status, 202);
      assert.deepEqual(statusOf(res, style), { status: 'verification_sent' });
      const notice = await env.smtp.next('bea@example.com');
      assertWellFormed(notice);
      assert.match(notice.text, /already has one/);
      assert.doesNotMatch(notice.text, /token=/);
      assert.equal(await env.server.core.users.findByUsername('bea-two'), undefined);
    });

    test('a taken username is 409 username already taken', async () => {
      await env.server.createUser('cyd', { email: 'cyd@example.com' });
      const res = await post('/register', { username: 'CYD', email: 'someone-else@example.com', password: PASSWORD });
      assert.equal(res.status, 409);
      assert.equal(errorOf(res, style), err('username already taken', 'CONFLICT'));
    });

    test('sign-up refuses a weak password, a bad username and a bad address with 400', async () => {
      const weak = await post('/register', { username: 'dee', email: 'dee@example.com', password: 'password' });
      assert.equal(weak.status, 400);
      const shortName = await post('/register', { username: 'd', email: 'dee@example.com', password: PASSWORD });
      assert.equal(shortName.status, 400);
      for (const email of ['no-at-sign', 'two@@example.com', 'a@nodot', `${'x'.repeat(250)}@example.com`]) {
        const bad = await post('/register', { username: 'dee', email, password: PASSWORD });
        assert.equal(bad.status, 400, email);
        if (style === 'envelope') assert.equal(bad.body.error.code, 'VALIDATION_ERROR');
      }
      assert.equal(await env.server.core.users.findByUsername('dee'), undefined);
    });

    test('resend: 202 for unknown and known addresses alike; the newer link voids the older one', async () => {
      const unknown = await post('/email/resend', { email: 'nobody@example.com' });
      assert.equal(unknown.status, 202);
      assert.deepEqual(statusOf(unknown, style), { status: 'verification_sent' });

      await post('/register', { username: 'eve', email: 'eve@example.com', password: PASSWORD });
      const first = tokenOf(await env.smtp.next('eve@example.com'));
      const known = await post('/email/resend', { email: 'eve@example.com' });
      assert.equal(known.status, 202);
      assert.equal(
        known.text.replace(/"timestamp":"[^"]+","requestId":"[^"]+"/, ''),
        unknown.text.replace(/"timestamp":"[^"]+","requestId":"[^"]+"/, ''),
      );
      const second = tokenOf(await env.smtp.next('eve@example.com'));
      assert.notEqual(first, second);
      const old = await post('/email/verify', { token: first });
      assert.equal(old.status, 400);
      assert.equal(errorOf(old, style), err('invalid or expired token', 'INVALID_TOKEN'));
      assert.equal((await post('/email/verify', { token: second })).status, 200);

      // The decoy for nobody was written and discarded, never delivered.
      await waitFor(async () => (await outboxTo(env.server, 'nobody@example.com')).every((r) => r.status === 'discarded'));
      assert.equal(env.smtp.messagesTo('nobody@example.com').length, 0);
      assert.ok((await outboxTo(env.server, 'nobody@example.com')).length === 1);
    });

    test('resend and forgot refuse a malformed address with 400', async () => {
      for (const path of ['/email/resend', '/password/forgot']) {
        const res = await post(path, { email: 'not an address' });
        assert.equal(res.status, 400, path);
        assert.equal(errorOf(res, style), err('email must be an email address', 'VALIDATION_ERROR'));
      }
    });

    test('one link token raced by concurrent requests succeeds once', async () => {
      await env.server.createUser('ned', { email: 'ned@example.com' });
      await post('/password/forgot', { email: 'ned@example.com' });
      const token = tokenOf(await env.smtp.next('ned@example.com'));
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          post('/password/reset', { token, new_password: `${NEW_PASSWORD}-${i}`, newPassword: `${NEW_PASSWORD}-${i}` }),
        ),
      );
      assert.deepEqual(results.map((r) => r.status).sort(), [204, 400, 400, 400, 400, 400]);
    });

    test('for an unknown address the same rows are written: a token bound to nobody and a discarded message', async () => {
      const db = env.server.core.store.db;
      const tokensBefore = (await db.selectFrom('link_tokens').select('token_hash').where('user_id', 'is', null).execute()).length;
      assert.equal((await post('/password/forgot', { email: 'phantom@example.com' })).status, 202);
      assert.equal(
        (await db.selectFrom('link_tokens').select('token_hash').where('user_id', 'is', null).execute()).length,
        tokensBefore + 1,
      );
      await waitFor(async () => (await outboxTo(env.server, 'phantom@example.com')).map((r) => r.status).join() === 'discarded');
      const [row] = await outboxTo(env.server, 'phantom@example.com');
      assert.equal(row?.deliver, 0);
      assert.equal(row?.message, null, 'the body is erased');
    });

    test('an unknown or malformed token is 400', async () => {
      const unknown = await post('/email/verify', { token: 'A'.repeat(43) });
      assert.equal(unknown.status, 400);
      assert.equal(errorOf(unknown, style), err('invalid or expired token', 'INVALID_TOKEN'));
      const malformed = await post('/email/verify', { token: 'not base64url!' });
      assert.equal(malformed.status, 400);
    });

    test('a user made by the admin API is verified unless the admin says otherwise; PATCH may set it', async () => {
      const admin = await env.server.login('root', 'root-password-for-tests');
      const verifiedKey = style === 'flat' ? 'email_verified' : 'emailVerified';
      const made = await env.server.request('POST', '/api/admin/users', {
        token: admin.access,
        body: { username: 'lou', email: 'lou@example.com', password: PASSWORD, [verifiedKey]: false },
      });
      assert.equal(made.status, 201, made.text);
      assert.equal(dataOf(made, style)[verifiedKey], false);
      assert.equal((await post('/login', { username: 'lou', password: PASSWORD })).status, 403);
      const patched = await env.server.request('PATCH', `/api/admin/users/${dataOf(made, style).id}`, {
        token: admin.access,
        body: { [verifiedKey]: true },
      });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(dataOf(patched, style)[verifiedKey], true);
      assert.equal((await post('/login', { username: 'lou', password: PASSWORD })).status, 200);
      const plain = await env.server.request('POST', '/api/admin/users', {
        token: admin.access,
        body: { username: 'max', email: 'max@example.com', password: PASSWORD },
      });
      assert.equal(dataOf(plain, style)[verifiedKey], true);
    });
  });

  describe(`accounts by email, open and off modes (${name})`, () => {
    let smtp: TestSmtp;
    let open: TestServer;
    let off: TestServer;
    before(async () => {
      smtp = await TestSmtp.start();
      open = await startTestServer({
        style,
        engine,
        env: { LATCHKEY_SIGNUP: 'open', LATCHKEY_SMTP_URL: smtp.url, LATCHKEY_SIGNUP_EMAIL_DOMAINS: 'example.com, Example.org' },
      });
      off = await startTestServer({ style, engine, env: { LATCHKEY_SMTP_URL: smtp.url } });
    });
    after(async () => {
      await open.close();
      await off.close();
      await smtp.stop();
    });

    test('open mode: 201 with the login body and cookie; the address is not verified yet; login works at once', async () => {
      const res = await open.request('POST', '/api/auth/register', {
        body: { username: 'ann', email: 'ann@EXAMPLE.org', password: PASSWORD },
      });
      assert.equal(res.status, 201, res.text);
      assert.match(res.headers.get('set-cookie') ?? '', /latchkey_refresh=.*HttpOnly/);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const { access } = tokensOf(res, style);
      const me = await open.request('GET', '/api/auth/me', { token: access });
      assert.equal(dataOf(me, style)[style === 'flat' ? 'email_verified' : 'emailVerified'], false);
      assert.equal((await open.request('POST', '/api/auth/login', { body: { email: 'ann@example.org', password: PASSWORD } })).status, 200);
    });

    test('open mode: a taken email or username is 409', async () => {
      await open.createUser('bob', { email: 'bob@example.com' });
      const email = await open.request('POST', '/api/auth/register', {
        body: { username: 'bob2', email: 'Bob@example.com', password: PASSWORD },
      });
      assert.equal(email.status, 409);
      assert.equal(errorOf(email, style), expectedError(style, 'email already taken', 'CONFLICT'));
      const username = await open.request('POST', '/api/auth/register', {
        body: { username: 'BOB', email: 'bob3@example.com', password: PASSWORD },
      });
      assert.equal(username.status, 409);
      assert.equal(errorOf(username, style), expectedError(style, 'username already taken', 'CONFLICT'));
    });

    test('an address outside LATCHKEY_SIGNUP_EMAIL_DOMAINS is 403 email domain not allowed', async () => {
      const res = await open.request('POST', '/api/auth/register', {
        body: { username: 'cat', email: 'cat@example.net', password: PASSWORD },
      });
      assert.equal(res.status, 403);
      assert.equal(errorOf(res, style), expectedError(style, 'email domain not allowed', 'FORBIDDEN'));
      // A subdomain is not the domain: exact match.
      const sub = await open.request('POST', '/api/auth/register', {
        body: { username: 'cat', email: 'cat@mail.example.com', password: PASSWORD },
      });
      assert.equal(sub.status, 403);
    });

    test('off mode (the default): 403 sign-up is disabled, and no account', async () => {
      const res = await off.request('POST', '/api/auth/register', {
        body: { username: 'dan', email: 'dan@example.com', password: PASSWORD },
      });
      assert.equal(res.status, 403);
      assert.equal(errorOf(res, style), expectedError(style, 'sign-up is disabled', 'SIGNUP_DISABLED'));
      if (style === 'envelope') assert.equal(res.body.error.message, 'Sign-up is disabled');
      assert.equal(await off.core.users.findByUsername('dan'), undefined);
    });

    test('off mode still lets a user reset a forgotten password by email', async () => {
      await off.createUser('eli', { email: 'eli@example.com' });
      await off.request('POST', '/api/auth/password/forgot', { body: { email: 'eli@example.com' } });
      const token = tokenOf(await smtp.next('eli@example.com'));
      const res = await off.request('POST', '/api/auth/password/reset', {
        body: { token, new_password: NEW_PASSWORD, newPassword: NEW_PASSWORD },
      });
      assert.equal(res.status, 204);
    });

    test('hostile bodies on every new endpoint are 400 in the style, never 5xx', async () => {
      const { access } = await off.login('eli', NEW_PASSWORD);
      const paths = ['/register', '/email/verify', '/email/resend', '/password/forgot', '/password/reset', '/email/change'];
      const bodies: { raw?: string; body?: unknown }[] = [
        { raw: '{' },
        { raw: 'null' },
        { raw: '[]' },
        { raw: '"text"' },
        { body: {} },
        { body: { token: 42, email: ['a@b.co'], username: { $ne: 1 }, password: true, new_password: null } },
        {
          body: {
            token: 'a\u0000b',
            email: 'a\u0000@example.com',
            username: 'x\u0000y',
            password: PASSWORD,
            new_email: 'a\u0000@b.co',
            current_password: PASSWORD,
          },
        },
        { raw: '{"__proto__": {"polluted": true}, "email": "a@example.com"}' },
        {
          body: {
            token: 'x'.repeat(5000),
            email: `${'e'.repeat(5000)}@example.com`,
            username: 'u'.repeat(5000),
            password: 'p'.repeat(5000),
          },
        },
      ];
      for (const server of [open, off]) {
        for (const path of paths) {
          for (const b of bodies) {
            const res = await server.request('POST', `/api/auth${path}`, { ...b, token: access });
            assert.ok(
              res.status === 400 || (path === '/email/change' && res.status === 401) || (path === '/register' && res.status === 403),
              `${path} ${JSON.stringify(b)} → ${res.status} ${res.text}`,
            );
            assert.match(res.headers.get('content-type') ?? '', /application\/json/);
            if (style === 'flat') assert.equal(typeof res.body.error, 'string');
            else assert.equal(typeof res.body.error.code, 'string');
          }
          const huge = await server.request('POST', `/api/auth${path}`, { body: { email: 'x'.repeat(70_000) }, token: access });
          assert.equal(huge.status, 413, path);
          assert.equal(errorOf(huge, style), expectedError(style, 'invalid request body', 'VALIDATION_ERROR'));
        }
      }
    });
  });
}

describe('OpenAPI of the new routes', () => {
  for (const style of ['flat', 'envelope'] as const) {
    test(`every new route documents its request body and each 2xx and 4xx answer (${style})`, async () => {
      const server = await startTestServer({ style });
      try {
        const doc = (await server.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, any>> };
        const expected: Record<string, string[]> = {
          '/api/auth/register': ['201', '202', '400', '403', '409', '429'],
          '/api/auth/email/verify': ['200', '400', '409'],
          '/api/auth/email/resend': ['202', '400', '429'],
          '/api/auth/email/change': ['202', '400', '401', '403', '429'],
          '/api/auth/password/forgot': ['202', '400', '429'],
          '/api/auth/password/reset': ['204', '400'],
        };
        for (const [path, statuses] of Object.entries(expected)) {
          const op = doc.paths[path]?.post;
          assert.ok(op, `${path} is documented`);
          assert.ok(op.requestBody?.content?.['application/json']?.schema, `${path} documents its body`);
          assert.deepEqual(Object.keys(op.responses).sort(), statuses.sort(), path);
          for (const status of statuses.filter((s) => s !== '204')) {
            assert.ok(op.responses[status].content?.['application/json']?.schema, `${path} ${status} has a schema`);
          }
        }
        const accepted = doc.paths['/api/auth/email/resend']?.post.responses['202'].content['application/json'].schema;
        // The swagger plugin writes `const` as a one-value enum.
        if (style === 'flat') assert.deepEqual(accepted.properties.status.enum, ['verification_sent']);
        else assert.deepEqual(accepted.properties.data.properties.status.enum, ['verification_sent']);
      } finally {
        await server.close();
      }
    });
  }
});
