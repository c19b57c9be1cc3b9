import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashIdentifier } from '../src/limits/abuse.ts';
import { type HttpResult, PASSWORD, type Style, type TestServer, matrix, startTestServer, tokensOf } from './support/server.ts';

const TOO_MANY = 'Too many requests. Please try again later.';

function assertRateLimited(res: HttpResult, style: Style, maxRetryAfter: number, context = ''): number {
  const where = `${context}: ${res.status} ${res.text.slice(0, 200)}`;
  assert.equal(res.status, 429, where);
  assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8', where);
  const retryAfter = res.headers.get('retry-after') ?? '';
  assert.match(retryAfter, /^\d+$/, `Retry-After is whole seconds: ${where}`);
  assert.ok(
    Number(retryAfter) >= 1 && Number(retryAfter) <= maxRetryAfter,
    `Retry-After ${retryAfter} within 1…${maxRetryAfter}: ${where}`,
  );
  if (style === 'flat') assert.deepEqual(res.body, { error: TOO_MANY }, where);
  else {
    assert.deepEqual(Object.keys(res.body), ['data', 'error', 'meta'], where);
    assert.equal(res.body.data, null, where);
    assert.deepEqual(res.body.error, { code: 'RATE_LIMITED', message: TOO_MANY }, where);
    assert.equal(res.body.meta.requestId, res.headers.get('x-request-id'), where);
  }
  return Number(retryAfter);
}

/** Collects the server's pino lines (JSON) in memory. */
function logCapture() {
  const lines: string[] = [];
  return {
    lines,
    stream: { write: (chunk: string) => void lines.push(...chunk.split('\n').filter((l) => l !== '')) },
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

for (const { style, engine, name } of matrix()) {
  describe(`abuse limits (${name})`, () => {
    const logs = logCapture();
    let server: TestServer;
    before(async () => {
      server = await startTestServer({
        style,
        engine,
        // Several client addresses through X-Forwarded-For; a small identifier limit keeps the test short.
        env: { LATCHKEY_LIMITS: 'on', LATCHKEY_TRUST_PROXY: 'true', LATCHKEY_LIMIT_LOGIN_IDENTIFIER: '7/1h' },
        logger: { level: 'info', stream: logs.stream },
      });
      for (const username of ['ada', 'pat', 'bob', 'sam', 'ivy', 'ray']) await server.createUser(username);
    });
    after(() => server.close());

    const loginFrom = (ip: string, username: string, password: string, headers: Record<string, string> = {}) =>
      server.request('POST', '/api/auth/login', { body: { username, password }, headers: { 'x-forwarded-for': ip, ...headers } });

    test('the 11th login attempt from one address in a minute is a 429 with Retry-After, even with the right password', async () => {
      for (let i = 1; i <= 10; i++)
        assert.equal((await loginFrom('10.0.0.1', `nobody-${i}`, 'wrong password')).status, 401, `attempt ${i}`);
      const res = await loginFrom('10.0.0.1', 'ada', PASSWORD, { 'x-request-id': `limited-${style}` });
      assertRateLimited(res, style, 60, '11th attempt');
      // The limit is per address: another one logs in.
      assert.equal((await loginFrom('10.0.0.2', 'ada', PASSWORD)).status, 200);
      // The refusal is audited.
      const rows = await server.core.store.db.selectFrom('audit_events').selectAll().where('request_id', '=', `limited-${style}`).execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.type, 'rate_limited');
      assert.equal(rows[0]?.ip, '10.0.0.1');
      assert.deepEqual(JSON.parse(rows[0]?.details ?? '{}'), { limit: 'login_per_address', identifier_hash: hashIdentifier('ada') });
    });

    test('after 5 failures for one identifier from one address the pair is blocked, even with the right password', async () => {
      for (let i = 1; i <= 5; i++) assert.equal((await loginFrom('10.0.1.1', 'pat', 'wrong password')).status, 401, `failure ${i}`);
      const blocked = await loginFrom('10.0.1.1', 'pat', PASSWORD);
      // Blocked for the pair's 15-minute window, not for the address's minute.
      const retryAfter = assertRateLimited(blocked, style, 900, 'blocked pair');
      assert.ok(retryAfter > 60, `Retry-After ${retryAfter} is the pair's block`);
      // The identifier matches case-insensitively: the pair is the account, not the spelling.
      assertRateLimited(await loginFrom('10.0.1.1', 'PAT', PASSWORD), style, 900, 'same pair, other case');
      // Another identifier from that address, and that identifier from another address, still work.
      assert.equal((await loginFrom('10.0.1.1', 'bob', PASSWORD)).status, 200);
      assert.equal((await loginFrom('10.0.1.2', 'pat', PASSWORD)).status, 200);
    });

    test("a success resets the pair's count of consecutive failures", async () => {
      // Without the reset, the sixth failure overall would already be refused.
      for (let i = 1; i <= 3; i++) assert.equal((await loginFrom('10.0.2.1', 'sam', 'wrong password')).status, 401, `failure ${i}`);
      assert.equal((await loginFrom('10.0.2.1', 'sam', PASSWORD)).status, 200);
      for (let i = 4; i <= 6; i++) assert.equal((await loginFrom('10.0.2.1', 'sam', 'wrong password')).status, 401, `failure ${i}`);
      assert.equal((await loginFrom('10.0.2.1', 'sam', PASSWORD)).status, 200);
    });

    test('the identifier limit counts failures from all addresses together', async () => {
      for (let i = 1; i <= 7; i++) assert.equal((await loginFrom(`10.0.3.${i}`, 'ivy', 'wrong password')).status, 401, `failure ${i}`);
      // A fresh address with the right password is refused: the account is under attack from everywhere.
      assertRateLimited(await loginFrom('10.0.3.100', 'ivy', PASSWORD), style, 3600, 'identifier blocked');
      assert.equal((await loginFrom('10.0.3.100', 'bob', PASSWORD)).status, 200);
    });

    test('the 61st refresh from one address in a minute is a 429, and the refused token stays usable', async () => {
      const { refresh } = tokensOf(await loginFrom('10.0.4.1', 'ray', PASSWORD), style);
      const refreshFrom = (ip: string, token: string) =>
        server.request('POST', '/api/auth/refresh', { body: { refresh_token: token }, headers: { 'x-forwarded-for': ip } });
      for (let i = 1; i <= 60; i++) assert.equal((await refreshFrom('10.0.4.9', 'not.a.token')).status, 401, `refresh ${i}`);
      assertRateLimited(await refreshFrom('10.0.4.9', refresh), style, 60, '61st refresh');
      assert.equal((await refreshFrom('10.0.4.10', refresh)).status, 200);
    });

    test('/verify and /me are not limited', async () => {
      const { access } = tokensOf(await loginFrom('10.0.6.1', 'bob', PASSWORD), style);
      for (let i = 0; i < 80; i++) {
        const path = i % 2 === 0 ? '/api/auth/verify' : '/api/auth/me';
        assert.equal(
          (await server.request('GET', path, { token: access, headers: { 'x-forwarded-for': '10.0.6.1' } })).status,
          200,
          `${path} #${i}`,
        );
      }
    });

    test('a failed login is logged as login_failed with the address and an identifier hash, never the identifier or password', async () => {
      const identifier = 'Secret.Person@Example.com';
      const password = 'Secret-Password-Probe-42';
      const requestId = `failed-${style}-${engine}`;
      const res = await loginFrom('10.0.5.1', identifier, password, { 'x-request-id': requestId });
      assert.equal(res.status, 401);
      const events = logs.records().filter((r) => r.event === 'login_failed' && r.request_id === requestId);
      assert.equal(events.length, 1, 'one login_failed line, carrying the request id');
      assert.equal(events[0]?.ip, '10.0.5.1');
      assert.equal(events[0]?.identifier_hash, hashIdentifier(identifier));
      for (const line of logs.lines) {
        assert.ok(!line.toLowerCase().includes(identifier.toLowerCase()), `identifier in log: ${line}`);
        assert.ok(!line.includes(password), `password in log: ${line}`);
        assert.ok(!line.includes(PASSWORD), `a user's password in log: ${line}`);
      }
      // And in the audit log, with the same hash.
      const rows = await server.core.store.db.selectFrom('audit_events').selectAll().where('request_id', '=', requestId).execute();
      assert.deepEqual(
        rows.map((r) => [r.type, r.ip]),
        [['login_failed', '10.0.5.1']],
      );
      assert.equal(JSON.parse(rows[0]?.details ?? '{}').identifier_hash, hashIdentifier(identifier));
      assert.doesNotMatch(JSON.stringify(rows), /secret\.person|Secret-Password/i);
    });

    test('10 parallel wrong logins for one account from one address: the pair limit (5) lets exactly 5 reach the password check', async () => {
      await server.createUser('par');
      const results = await Promise.all(Array.from({ length: 10 }, () => loginFrom('10.0.7.1', 'par', 'wrong password')));
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
      for (const res of results.filter((r) => r.status === 429)) assertRateLimited(res, style, 900, 'parallel');
      const failures = await server.core.store.db
        .selectFrom('audit_events')
        .select('id')
        .where('type', '=', 'login_failed')
        .where('ip', '=', '10.0.7.1')
        .execute();
      assert.equal(failures.length, 5, 'only five passwords were checked');
    });

    test('a username and an email of one account share one budget: a pair blocked by name stays blocked by email', async () => {
      await server.createUser('eve', { email: 'Eve@Example.test' });
      for (let i = 1; i <= 5; i++) assert.equal((await loginFrom('10.0.8.1', 'eve', 'wrong password')).status, 401, `failure ${i}`);
      assertRateLimited(
        await server.request('POST', '/api/auth/login', {
          body: { email: 'eve@example.test', password: PASSWORD },
          headers: { 'x-forwarded-for': '10.0.8.1' },
        }),
        style,
        900,
        'the same account by email',
      );
    });

    test('the 429s of one block write one audit row, while each is still logged', async () => {
      for (let i = 1; i <= 5; i++) assert.equal((await loginFrom('10.0.9.1', 'ada', 'wrong password')).status, 401, `failure ${i}`);
      for (let i = 1; i <= 4; i++) assertRateLimited(await loginFrom('10.0.9.1', 'ada', PASSWORD), style, 900, `blocked ${i}`);
      const rows = await server.core.store.db
        .selectFrom('audit_events')
        .select('details')
        .where('type', '=', 'rate_limited')
        .where('ip', '=', '10.0.9.1')
        .execute();
      assert.deepEqual(
        rows.map((r) => JSON.parse(r.details ?? '{}').limit),
        ['login_pair'],
      );
      const logged = logs.records().filter((r) => r.event === 'rate_limited' && r.ip === '10.0.9.1');
      assert.equal(logged.length, 4);
    });

    test('a rate-limited login is logged with its limit', () => {
      const limited = logs.records().filter((r) => r.event === 'rate_limited');
      assert.ok(
        limited.some((r) => r.limit === 'login_per_address' && r.ip === '10.0.0.1'),
        JSON.stringify(limited),
      );
      assert.ok(limited.some((r) => r.limit === 'login_pair' && r.ip === '10.0.1.1'));
      assert.ok(limited.some((r) => r.limit === 'login_identifier' && r.ip === '10.0.3.100'));
    });
  });

  describe(`abuse limits without LATCHKEY_TRUST_PROXY (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine, env: { LATCHKEY_LIMITS: 'on' } });
      await server.createUser('ada');
    });
    after(() => server.close());

    test('X-Forwarded-For is ignored: a client cannot dodge the address limit by inventing addresses', async () => {
      for (let i = 1; i <= 10; i++) {
        const res = await server.request('POST', '/api/auth/login', {
          body: { username: `nobody-${i}`, password: 'wrong password' },
          headers: { 'x-forwarded-for': `198.51.100.${i}` },
        });
        assert.equal(res.status, 401, `attempt ${i}`);
      }
      const res = await server.request('POST', '/api/auth/login', {
        body: { username: 'ada', password: PASSWORD },
        headers: { 'x-forwarded-for': '198.51.100.99', 'x-request-id': `no-proxy-${style}` },
      });
      assertRateLimited(res, style, 60, 'spoofed addresses');
      const rows = await server.core.store.db
        .selectFrom('audit_events')
        .select('ip')
        .where('request_id', '=', `no-proxy-${style}`)
        .execute();
      assert.deepEqual(rows, [{ ip: '127.0.0.1' }]);
    });
  });

  describe(`LATCHKEY_LIMITS=off (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine, env: { LATCHKEY_LIMITS: 'off' } });
      await server.createUser('ada');
    });
    after(() => server.close());

    test('turns every limit off: many failures, then the right password still logs in', async () => {
      for (let i = 1; i <= 12; i++)
        assert.equal(
          (await server.request('POST', '/api/auth/login', { body: { username: 'ada', password: 'wrong password' } })).status,
          401,
          `failure ${i}`,
        );
      const res = await server.request('POST', '/api/auth/login', { body: { username: 'ada', password: PASSWORD } });
      assert.equal(res.status, 200);
      const { refresh } = tokensOf(res, style);
      for (let i = 1; i <= 65; i++)
        assert.equal(
          (await server.request('POST', '/api/auth/refresh', { body: { refresh_token: 'not.a.token' } })).status,
          401,
          `refresh ${i}`,
        );
      assert.equal((await server.request('POST', '/api/auth/refresh', { body: { refresh_token: refresh } })).status, 200);
      const rows = await server.core.store.db.selectFrom('audit_events').select('type').where('type', '=', 'rate_limited').execute();
      assert.equal(rows.length, 0);
    });
  });
}
