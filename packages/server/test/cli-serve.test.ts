/**
 * The `latchkey` command where it needs a process of its own: `serve` (its first start, signals, a port in use),
 * the `.env` of a real working directory, and which database and Redis drivers a command loads. The one-shot
 * commands run in-process in cli.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openStore } from '../src/store/database.ts';
import { baseEnv, cliWorkspace, closedPort, finished, listeningUrl, serve, startLatchkey } from './support/cli.ts';

const PASSWORD = 'Tr0ub4dor&3-horse';

/** Reads users straight from the database file, without spawning another command. */
async function usersIn(url: string) {
  const store = await openStore(url);
  try {
    return await store.db.selectFrom('users').select(['username', 'email', 'role', 'disabled', 'password_hash']).orderBy('id').execute();
  } finally {
    await store.close();
  }
}

const workspace = cliWorkspace;

describe('latchkey serve', () => {
  const ws = workspace();
  let adminPassword = '';
  after(() => ws.remove());

  const login = (url: string, username: string, password: string) =>
    fetch(`${url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });

  test('a first start that cannot listen (port in use) fails naming the address, and creates no admin', async () => {
    const blocker = createServer();
    try {
      await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
      const address = blocker.address();
      assert.ok(typeof address === 'object' && address !== null);
      const failed = await serve(ws, { PORT: String(address.port), LOG_LEVEL: 'silent' }).done;
      assert.equal(failed.code, 1, failed.stderr);
      assert.equal(
        failed.stderr,
        `latchkey: 127.0.0.1:${address.port} is already in use: stop the other server, or choose another PORT (--port)\n`,
      );
      assert.doesNotMatch(failed.stdout, /admin password/);
      // No admin whose password nobody saw: the next start (below) creates it and prints the password.
      assert.deepEqual(await usersIn(ws.url), []);
    } finally {
      await new Promise((done) => blocker.close(done));
    }
  });

  test('on an empty database prints the admin password once; it logs in; SIGTERM lets a request finish, then exits 0', async () => {
    // The access log tells the test when the in-flight request has arrived (it is off by default).
    const server = serve(ws, { LATCHKEY_ACCESS_LOG: 'on' });
    const url = await listeningUrl(server);
    const printed = server.stdoutLines().filter((line) => line.startsWith('admin password: '));
    assert.equal(printed.length, 1, server.stdoutLines().join('\n'));
    adminPassword = printed[0]!.slice('admin password: '.length);
    assert.match(adminPassword, /^[A-Za-z0-9_-]{16,}$/);
    // Printed, never logged.
    assert.equal(server.stdoutLines().filter((line) => line.includes(adminPassword)).length, 1);
    assert.equal((await login(url, 'admin', adminPassword)).status, 200);

    // A request whose body is still arriving when SIGTERM comes is answered before the process exits.
    const body = JSON.stringify({ username: 'admin', password: adminPassword });
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(
        `${url}/api/auth/login`,
        {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'x-request-id': 'in-flight-1' },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 10));
      void server
        .waitFor((_, record) => record?.request_id === 'in-flight-1' && record.msg === 'incoming request')
        .then(() => {
          server.child.kill('SIGTERM');
          return server.waitFor((_, record) => record?.msg === 'shutting down');
        })
        .then(() => req.end(body.slice(10)), reject);
    });
    const answered = await response;
    assert.equal(answered.status, 200, answered.text);
    const exit = await server.done;
    assert.equal(exit.code, 0, exit.stderr);
    assert.equal(exit.signal, null);
  });

  test('a second start prints no password, keeps the admin, and exits 0 on SIGINT', async () => {
    const server = serve(ws);
    const url = await listeningUrl(server);
    assert.equal((await login(url, 'admin', adminPassword)).status, 200);
    server.child.kill('SIGINT');
    const exit = await server.done;
    assert.equal(exit.code, 0, exit.stderr);
    assert.ok(!exit.stdout.includes('admin password'), exit.stdout);
    assert.ok(!exit.stdout.includes(adminPassword));
  });

  test('a weak LATCHKEY_ADMIN_PASSWORD stops serve with exit 2 naming the variable', async () => {
    const fresh = workspace();
    try {
      const server = serve(fresh, { LATCHKEY_ADMIN_USERNAME: 'boss', LATCHKEY_ADMIN_PASSWORD: 'password1', LOG_LEVEL: 'silent' });
      const exit = await server.done;
      assert.equal(exit.code, 2, exit.stderr);
      assert.match(exit.stderr, /LATCHKEY_ADMIN_PASSWORD/);
      assert.doesNotMatch(exit.stderr + exit.stdout, /password1/, 'the refused value itself is not echoed');
    } finally {
      fresh.remove();
    }
  });
});

describe('.env in the working directory', () => {
  const ws = workspace();
  before(() => {
    writeFileSync(
      join(ws.dir, '.env'),
      ['# read by every command', 'DATABASE_URL=sqlite:./from-dotenv.db', 'LATCHKEY_API_STYLE=bogus', ''].join('\n'),
    );
  });
  after(() => ws.remove());

  test('is read, and the environment wins over it', async () => {
    // No DATABASE_URL in the environment: only the .env file names the database. Its bad
    // LATCHKEY_API_STYLE would stop the command, but the environment's value wins.
    const child = startLatchkey(['users', 'create', '--username', 'eve', '--password', PASSWORD], {
      dir: ws.dir,
      env: { LATCHKEY_API_STYLE: 'flat' },
    });
    const done = finished(child);
    child.stdin?.end();
    const res = await done;
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(
      (await usersIn(`sqlite:${join(ws.dir, 'from-dotenv.db')}`)).map((u) => u.username),
      ['eve'],
    );
    assert.ok(!existsSync(join(ws.dir, 'data')), 'the default database was not created');
  });
});

describe('database and Redis drivers', () => {
  const ws = workspace();
  after(() => ws.remove());

  /** The driver packages a fresh process has loaded after running one command in-process. */
  async function driversLoadedBy(argv: string[], env: Record<string, string>): Promise<string[]> {
    const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
    const script = `
      import { createRequire } from 'node:module';
      const { main } = await import(${JSON.stringify(cli)});
      const sink = { write: () => true };
      const code = await main(${JSON.stringify(argv)}, { env: ${JSON.stringify({ LOG_LEVEL: 'silent', ...env })}, cwd: ${JSON.stringify(ws.dir)}, stdout: sink, stderr: sink, readStdin: () => '' });
      const loaded = Object.keys(createRequire(${JSON.stringify(cli)}).cache).map((p) => /node_modules[/](pg|ioredis|better-sqlite3)[/]/.exec(p)?.[1]).filter(Boolean);
      process.stdout.write(JSON.stringify({ code, loaded: [...new Set(loaded)].sort() }));
    `;
    // Run from the package, where tsx resolves; the command itself works in the workspace (io.cwd).
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: baseEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run = await finished(child);
    assert.equal(run.code, 0, run.stderr);
    const { code, loaded } = JSON.parse(run.stdout) as { code: number; loaded: string[] };
    return [String(code), ...loaded];
  }

  test('only the configured engine is loaded: SQLite never loads pg or ioredis, PostgreSQL never loads better-sqlite3', async () => {
    const port = await closedPort();
    const [sqlite, postgres] = await Promise.all([
      driversLoadedBy(['users', 'list'], { DATABASE_URL: ws.url }),
      // An unreachable PostgreSQL: the command fails (exit 1), having loaded pg only.
      driversLoadedBy(['users', 'list'], { DATABASE_URL: `postgres://u@127.0.0.1:${port}/x` }),
    ]);
    assert.deepEqual(sqlite, ['0', 'better-sqlite3']);
    assert.deepEqual(postgres, ['1', 'pg']);
  });
});
