/**
 * `latchkey serve --workers N` (node:cluster): N processes share one port and behave as one server,
 * on SQLite (WAL) and on PostgreSQL, without Redis. Real processes over a database of the test's own.
 */
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashJti } from '../../src/auth/sessions.ts';
import { type Store, openStore } from '../../src/store/database.ts';
import { type TestDatabase, claimsOf, createTestDatabase, engines } from '../support/server.ts';
import { Instance, httpOnce } from './instances.ts';

/** Refreshes per address and minute: leased to the workers by the primary two at a time (40 ÷ (8 × 2)). */
const REFRESH_BUDGET = 40;

for (const engine of ['sqlite', 'postgres'] as const) {
  const skip = engines().includes(engine) ? false : 'TEST_DATABASE_URL not set: needs a real PostgreSQL (CI sets it)';

  describe(`serve --workers 2 on ${engine}`, { skip }, () => {
    let database: TestDatabase;
    let store: Store;
    let server: Instance;
    let admin: { username: string; password: string };
    let nextAddress = 1;
    const address = () => ({ 'x-forwarded-for': `192.0.2.${nextAddress++}` });

    before(async () => {
      database = await createTestDatabase(engine);
      server = await Instance.start(
        {
          DATABASE_URL: database.url,
          // No admin configured: the first admin is generated, and must be generated once.
          LATCHKEY_ADMIN_USERNAME: '',
          LATCHKEY_ADMIN_PASSWORD: '',
          LATCHKEY_TRUST_PROXY: 'true',
          LATCHKEY_LIMIT_LOGIN_PER_ADDRESS: '3/1m',
          LATCHKEY_LIMIT_REFRESH_PER_ADDRESS: `${REFRESH_BUDGET}/1m`,
          LOG_LEVEL: 'info',
          // The SIGTERM test below waits for its request's "incoming request" line (off by default).
          LATCHKEY_ACCESS_LOG: 'on',
        },
        ['--workers', '2'],
      );
      await server.waitForOutput(/latchkey workers listening/);
      const password = /^admin password: (\S+)$/m.exec(server.output)?.[1];
      assert.ok(password, server.output);
      admin = { username: 'admin', password };
      store = await openStore(database.url);
    });

    after(async () => {
      await server?.stop();
      await store?.close();
      await database?.drop();
    });

    const login = async () => {
      const res = await httpOnce(server.url, 'POST', '/api/auth/login', { body: admin, headers: address() });
      assert.equal(res.status, 200, res.text);
      return { access: res.body.token as string, refresh: res.body.refresh_token as string };
    };

    test('the primary migrated and created the first admin once, then forked two workers on one port', async () => {
      assert.equal(server.output.match(/admin password:/g)?.length, 1);
      assert.equal(server.workerPids().length, 2);
      assert.equal((await store.db.selectFrom('users').select('username').execute()).length, 1);
      await login();
    });

    test('new connections are spread over both workers', async () => {
      // Round-robin hands each new connection to the next listening worker; on a loaded machine a worker
      // can be a moment late to listen, so keep opening connections (bounded) until both have answered.
      const pids = new Set<number>();
      for (let i = 0; i < 40 && pids.size < 2; i++) {
        assert.equal((await httpOnce(server.url, 'GET', '/healthz', { headers: { 'x-request-id': `spread-${i}` } })).status, 200);
        for (const line of server.output.split('\n')) {
          if (/"request_id":"spread-\d+"/.test(line)) pids.add(JSON.parse(line).pid);
        }
      }
      if (pids.size < 2) {
        await new Promise((r) => setTimeout(r, 500)); // the workers' log lines reach us through the primary's pipe
        for (const line of server.output.split('\n')) if (/"request_id":"spread-\d+"/.test(line)) pids.add(JSON.parse(line).pid);
      }
      assert.deepEqual([...pids].sort(), server.workerPids().sort());
    });

    test('20 concurrent refreshes of one token over both workers make exactly one successor', async () => {
      const session = await login();
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          httpOnce(server.url, 'POST', '/api/auth/refresh', { body: { refresh_token: session.refresh }, headers: address() }),
        ),
      );
      assert.deepEqual(
        answers.map((r) => r.status),
        Array(20).fill(200),
        answers.map((r) => r.text).join('\n'),
      );
      const successors = new Set(answers.map((r) => r.body.refresh_token as string));
      assert.equal(successors.size, 1);
      // One rotation: the parent is the session's previous token, the one successor its unspent one.
      const state = await store.db
        .selectFrom('sessions')
        .select(['refresh_hash', 'previous_hash'])
        .where('id', '=', claimsOf(session.refresh).sid)
        .executeTakeFirstOrThrow();
      assert.deepEqual(state, {
        refresh_hash: hashJti(claimsOf([...successors][0] as string).jti),
        previous_hash: hashJti(claimsOf(session.refresh).jti),
      });
    });

    test('the login rate limit is counted once across the workers, without Redis', async () => {
      const from = address();
      const attempt = (i: number) =>
        httpOnce(server.url, 'POST', '/api/auth/login', { body: { username: `nobody-${i}`, password: 'wrong-password' }, headers: from });
      for (let i = 0; i < 3; i++) assert.equal((await attempt(i)).status, 401);
      // Two more, on new connections: each worker refuses.
      for (let i = 3; i < 5; i++) {
        const res = await attempt(i);
        assert.equal(res.status, 429);
        assert.deepEqual(res.body, { error: 'Too many requests. Please try again later.' });
      }
    });

    test('/metrics answers for both workers, whichever one a scrape reaches', async () => {
      const healthzCount = (text: string): number => {
        const line = text
          .split('\n')
          .find((l) => l.startsWith('latchkey_http_requests_total{') && l.includes('route="/healthz"') && l.includes('status="200"'));
        return Number(line?.split(' ').at(-1) ?? 0);
      };
      const scrape = async () => {
        const res = await httpOnce(server.url, 'GET', '/metrics');
        assert.equal(res.status, 200, res.text);
        assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
        assert.match(res.text, /^latchkey_metrics_workers_reporting 2$/m);
        return healthzCount(res.text);
      };
      const before = await scrape();
      // New connections: round-robin spreads them over both workers.
      for (let i = 0; i < 10; i++) assert.equal((await httpOnce(server.url, 'GET', '/healthz')).status, 200);
      // Four scrapes on new connections reach both workers; each counts every worker's answers.
      const after: number[] = [];
      for (let i = 0; i < 4; i++) after.push(await scrape());
      assert.deepEqual(after, Array(4).fill(before + 10));
    });

    test("a scrape the primary cannot total is a 503 in the contract's shape, not one worker's figures", async () => {
      // A kept-alive connection reaches a worker without the primary, which hands out new connections.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const get = (path: string) =>
        new Promise<{ status: number; text: string }>((resolve, reject) => {
          const req = httpRequest(server.url + path, { agent }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          });
          req.on('error', reject);
          req.end();
        });
      try {
        assert.equal((await get('/healthz')).status, 200);
        process.kill(server.pid, 'SIGSTOP');
        let stopped: { status: number; text: string };
        try {
          stopped = await get('/metrics');
        } finally {
          process.kill(server.pid, 'SIGCONT');
        }
        assert.equal(stopped.status, 503);
        assert.deepEqual(JSON.parse(stopped.text), { error: 'service unavailable' });
        // The primary back: the same connection totals again.
        const res = await get('/metrics');
        assert.equal(res.status, 200);
        assert.match(res.text, /^latchkey_metrics_workers_reporting 2$/m);
      } finally {
        agent.destroy();
      }
    });

    test('the refresh rate limit is counted once across the workers: what they admit together stays within the budget', async () => {
      const from = address();
      // 60 at once on new connections, so both workers take leases on the one address's budget at the same time.
      const answers = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          httpOnce(server.url, 'POST', '/api/auth/refresh', {
            body: { refresh_token: 'not-a-refresh-token' },
            headers: { ...from, 'x-request-id': `refresh-limit-${i}` },
          }),
        ),
      );
      const admitted = answers.filter((r) => r.status === 401).length;
      const refused = answers.filter((r) => r.status === 429);
      assert.equal(admitted + refused.length, 60, answers.map((r) => `${r.status} ${r.text}`).join('\n'));
      // Never more than the budget (one process would admit exactly 40); at most one point early, the
      // unused rest of a two-point lease held by the other worker.
      assert.ok(admitted <= REFRESH_BUDGET && admitted >= REFRESH_BUDGET - 1, `${admitted} admitted`);
      for (const res of refused) assert.deepEqual(res.body, { error: 'Too many requests. Please try again later.' });
      // The refusal holds on both workers (new connections again) until the window ends; a point left in the
      // other worker's lease may still be spent, and then the budget is exhausted there too.
      const followUps: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await httpOnce(server.url, 'POST', '/api/auth/refresh', {
          body: { refresh_token: 'not-a-refresh-token' },
          headers: from,
        });
        followUps.push(res.status);
      }
      const late = followUps.filter((status) => status === 401).length;
      assert.ok(admitted + late <= REFRESH_BUDGET, `${admitted} + ${late} admitted: over the budget`);
      assert.deepEqual(
        followUps.filter((status) => status !== 401),
        Array(4 - late).fill(429),
      );
      assert.ok(late <= 1, `after the burst: ${followUps.join(', ')}`);
      await sleep(300); // the workers' log lines reach us through the primary's pipe
      const pids = new Set<number>();
      for (const line of server.output.split('\n')) if (/"request_id":"refresh-limit-\d+"/.test(line)) pids.add(JSON.parse(line).pid);
      assert.deepEqual([...pids].sort(), server.workerPids().sort(), 'both workers answered');
    });

    test('a logout on one worker is refused by the other within 1 s', async () => {
      const session = await login();
      assert.equal((await httpOnce(server.url, 'POST', '/api/auth/logout', { token: session.access })).status, 204);
      const loggedOutAt = Date.now();
      // Several new connections, so both workers answer.
      for (let i = 0; i < 4; i++) {
        let res = await httpOnce(server.url, 'GET', '/api/auth/verify', { token: session.access });
        while (res.status === 200 && Date.now() - loggedOutAt < 1000)
          res = await httpOnce(server.url, 'GET', '/api/auth/verify', { token: session.access });
        assert.equal(res.status, 401, `still accepted ${Date.now() - loggedOutAt} ms after the logout`);
      }
    });

    test('a worker that dies is replaced', async () => {
      const listening = () => server.output.match(/"msg":"latchkey listening"/g)?.length ?? 0;
      const before = listening();
      const [victim] = server.workerPids();
      process.kill(victim as number, 'SIGKILL');
      await server.waitForOutput(/worker died; starting a new one/);
      const deadline = Date.now() + 20_000;
      while (listening() === before) {
        assert.ok(Date.now() < deadline, `no replacement worker:\n${server.output}`);
        await sleep(50);
      }
      const workers = server.workerPids();
      assert.equal(workers.length, 2);
      assert.ok(!workers.includes(victim as number));
      for (let i = 0; i < 4; i++) assert.equal((await httpOnce(server.url, 'GET', '/readyz')).status, 200);
    });

    test('SIGTERM on the primary lets a request in flight finish, then every process exits 0', async () => {
      // A login whose body is still on its way when SIGTERM arrives.
      const body = JSON.stringify(admin);
      const workers = server.workerPids();
      const answer = new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          `${server.url}/api/auth/login`,
          {
            method: 'POST',
            agent: false,
            headers: {
              'content-type': 'application/json',
              'content-length': String(body.length),
              'x-request-id': 'in-flight',
              ...address(),
            },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.write(body.slice(0, 5));
        server
          .waitForOutput(/"request_id":"in-flight"[^\n]*incoming request/)
          .then(() => {
            process.kill(server.pid, 'SIGTERM');
            return server.waitForOutput(/shutting down[\s\S]*shutting down/);
          })
          .then(() => req.end(body.slice(5)), reject);
      });
      assert.equal(await answer, 200);
      const exit = await server.exited();
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.doesNotMatch(server.output, /did not stop in time/);
      for (const pid of workers) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} is still running`);
    });
  });
}

describe('serve --workers auto on SQLite', () => {
  test('runs one process: auto never splits the writes of one SQLite file between processes', async () => {
    const database = await createTestDatabase('sqlite');
    const server = await Instance.start({ DATABASE_URL: database.url, LOG_LEVEL: 'info' }, ['--workers', 'auto']);
    try {
      assert.equal((await httpOnce(server.url, 'GET', '/healthz')).status, 200);
      assert.deepEqual(server.workerPids(), []);
      // The line is written just after the port opens: wait for it rather than race the /healthz answer.
      await server.waitForOutput(/"msg":"latchkey listening"/);
      assert.match(server.output, new RegExp(`"pid":${server.pid},[^\\n]*"msg":"latchkey listening"`));
      assert.doesNotMatch(server.output, /latchkey workers listening/);
    } finally {
      await server.stop();
      await database.drop();
    }
  });
});
