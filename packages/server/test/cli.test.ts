import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PasswordHasher } from '../src/auth/passwords.ts';
import { openStore } from '../src/store/database.ts';
import { type CliResult, cliWorkspace, closedPort, runCli } from './support/cli.ts';

const PASSWORD = 'Tr0ub4dor&3-horse';

/** The stored hash of one user, read straight from the database file. */
async function storedHash(url: string, username: string): Promise<string | null | undefined> {
  const store = await openStore(url);
  try {
    const row = await store.db
      .selectFrom('users')
      .select('password_hash')
      .where('username_key', '=', username.toLowerCase())
      .executeTakeFirst();
    return row?.password_hash;
  } finally {
    await store.close();
  }
}

const hasher = new PasswordHasher({ algorithm: 'argon2id', bcryptCost: 12 });

/** Reads users straight from the database file, without spawning another command. */
async function usersIn(url: string) {
  const store = await openStore(url);
  try {
    return await store.db.selectFrom('users').select(['username', 'email', 'role', 'disabled', 'password_hash']).orderBy('id').execute();
  } finally {
    await store.close();
  }
}

// One-shot commands run in-process (`main(argv, io)`, test/support/cli.ts); serve, signals and the .env of
// a real working directory need a process of their own (cli-serve.test.ts). Results are checked in the database.
const workspace = cliWorkspace;
type Run = CliResult;
type RunOptions = NonNullable<Parameters<ReturnType<typeof cliWorkspace>['run']>[1]>;

describe('latchkey users', () => {
  const ws = workspace();
  after(() => ws.remove());

  test('users create with --password and with --password-stdin', async () => {
    const ada = await ws.run(['users', 'create', '--username', 'ada', '--email', 'ada@example.com', '--password', PASSWORD]);
    assert.equal(ada.code, 0, ada.stderr);
    assert.match(ada.stdout, /^created user ada \(id \d+, STANDARD\)\n$/);
    // The trailing newline of `echo pw |` is not part of the password.
    const bob = await ws.run(['users', 'create', '--username', 'bob', '--role', 'ADMIN', '--password-stdin'], {
      input: 'B0b has a long pass\n',
    });
    assert.equal(bob.code, 0, bob.stderr);
    assert.match(bob.stdout, /^created user bob \(id \d+, ADMIN\)\n$/);
    assert.equal(await hasher.verify((await storedHash(ws.url, 'ada')) ?? '', PASSWORD), true);
    assert.equal(await hasher.verify((await storedHash(ws.url, 'bob')) ?? '', 'B0b has a long pass'), true);
  });

  test('users create refuses to make an account without a password unless --no-password says so', async () => {
    const refused = await ws.run(['users', 'create', '--username', 'nopass']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /^latchkey: give --password P or --password-stdin \(or --no-password for an account that signs in only through an OpenID provider\)\nUsage:\n  latchkey users create /,
    );
    assert.equal(refused.stdout, '');
    const both = await ws.run(['users', 'create', '--username', 'nopass', '--password', PASSWORD, '--no-password']);
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /^latchkey: give a password or --no-password, not both\n/);
    assert.equal(
      (await usersIn(ws.url)).some((u) => u.username === 'nopass'),
      false,
    );

    const made = await ws.run(['users', 'create', '--username', 'nopass', '--no-password']);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /^created user nopass \(id \d+, STANDARD\)\n$/);
    assert.equal((await usersIn(ws.url)).find((u) => u.username === 'nopass')?.password_hash, null);
    const deleted = await ws.run(['users', 'delete', '--username', 'nopass']);
    assert.equal(deleted.code, 0, deleted.stderr);
  });

  test('users list prints one line a user; --json prints the same as JSON, without hashes', async () => {
    const [plain, json] = await Promise.all([ws.run(['users', 'list']), ws.run(['users', 'list', '--json'])]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^\d+\tada\tada@example\.com\tSTANDARD\n\d+\tbob\t-\tADMIN\n$/);
    assert.equal(json.code, 0, json.stderr);
    const users = JSON.parse(json.stdout) as Record<string, unknown>[];
    assert.deepEqual(
      users.map((u) => [u.username, u.email, u.role, u.disabled, u.last_login_at]),
      [
        ['ada', 'ada@example.com', 'STANDARD', false, null],
        ['bob', null, 'ADMIN', false, null],
      ],
    );
    for (const u of users) {
      assert.deepEqual(Object.keys(u), ['id', 'username', 'email', 'role', 'disabled', 'created_at', 'last_login_at']);
      assert.match(String(u.created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    assert.doesNotMatch(plain.stdout + json.stdout, /argon2|\$2b\$/);
  });

  test('users set-role, set-password, disable, enable and delete', async () => {
    const ok = async (args: string[], expected: RegExp) => {
      const res = await ws.run(args);
      assert.equal(res.code, 0, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stdout, expected);
    };
    await ok(['users', 'set-role', '--username', 'ada', '--role', 'ADMIN'], /^ada is now ADMIN\n$/);
    assert.equal((await usersIn(ws.url)).find((u) => u.username === 'ada')?.role, 'ADMIN');
    await ok(['users', 'set-password', '--username', 'ADA', '--password', 'a brand new passphrase'], /^password of ada changed/);
    assert.equal(await hasher.verify((await storedHash(ws.url, 'ada')) ?? '', 'a brand new passphrase'), true);
    await ok(['users', 'disable', '--username', 'bob'], /^bob disabled\n$/);
    assert.equal((await usersIn(ws.url)).find((u) => u.username === 'bob')?.disabled, 1);
    await ok(['users', 'enable', '--username', 'bob'], /^bob enabled\n$/);
    assert.equal((await usersIn(ws.url)).find((u) => u.username === 'bob')?.disabled, 0);
    await ok(['users', 'delete', '--username', 'bob'], /^bob deleted\n$/);
    assert.deepEqual(
      (await usersIn(ws.url)).map((u) => u.username),
      ['ada'],
    );
  });

  test('exit 1 for an existing user, no such user, or removing the last ADMIN; exit 2 for bad usage, values and configuration', async () => {
    const cases: [number, string[], RegExp, RunOptions?][] = [
      [1, ['users', 'create', '--username', 'ADA', '--password', PASSWORD], /taken/],
      [1, ['users', 'set-role', '--username', 'nobody', '--role', 'ADMIN'], /no user named nobody/],
      [1, ['users', 'delete', '--username', 'ada'], /last active ADMIN/],
      [2, ['users', 'create', '--username', 'weak', '--password', 'password1'], /--password: .*common/],
      [2, ['users', 'create', '--username', 'weak', '--password-stdin'], /^latchkey: --password-stdin: .*8 to 128/, { input: 'short\n' }],
      [
        2,
        ['users', 'set-password', '--username', 'ada', '--password-stdin'],
        /^latchkey: --password-stdin: .*common/,
        { input: 'password1\n' },
      ],
      [2, ['users', 'create', '--username', 'weak', '--role', 'GOD', '--password', PASSWORD], /--role/],
      [2, ['users', 'create', '--password', PASSWORD], /--username is required/],
      [2, ['frobnicate'], /unknown command: frobnicate/],
      [2, ['users', 'list'], /LATCHKEY_ACCESS_TTL/, { env: { LATCHKEY_ACCESS_TTL: 'soon' } }],
    ];
    // Independent of one another: two at a time.
    const results: Run[] = [];
    for (let i = 0; i < cases.length; i += 2) {
      results.push(...(await Promise.all(cases.slice(i, i + 2).map(([, args, , options]) => ws.run(args, options)))));
    }
    for (const [i, [code, args, message]] of cases.entries()) {
      const res = results[i]!;
      assert.equal(res.code, code, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, message, `${args.join(' ')}: ${res.stderr}`);
      assert.equal(res.stdout, '', args.join(' '));
    }
    // Nothing was created or changed by a refused command.
    assert.deepEqual(
      (await usersIn(ws.url)).map((u) => [u.username, u.role]),
      [['ada', 'ADMIN']],
    );
  });
});

describe('latchkey migrate', () => {
  const ws = workspace();
  after(() => ws.remove());

  test('applies the migrations to a new database and creates no user', async () => {
    const res = await ws.run(['migrate']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'migrations applied\n');
    const store = await openStore(ws.url);
    try {
      const tables = (await store.db.introspection.getTables()).map((t) => t.name);
      for (const table of ['users', 'sessions', 'audit_events', 'signing_keys']) assert.ok(tables.includes(table), table);
      assert.deepEqual(await store.migrate(), [], 'nothing left to apply');
      // The first admin is serve's job.
      assert.deepEqual(await store.db.selectFrom('users').select('id').execute(), []);
    } finally {
      await store.close();
    }
  });
});

describe('latchkey <command> --help and latchkey help <command>', () => {
  const ws = workspace();
  after(() => ws.remove());

  test("print the command's usage on stdout and exit 0, without creating a database", async () => {
    const serveUsage = /^Usage:\n  latchkey serve \[--port N\] \[--host H\] \[--database URL\] \[--workers N\|auto\]\n/;
    const createUsage =
      /^Usage:\n  latchkey users create --username U \[--email E\] \[--role ADMIN\|STANDARD\] \(--password P \| --password-stdin \| --no-password\) \[--unverified\]\n/;
    const importUsage = /^Usage:\n  latchkey users import FILE \[--format json\|csv\|vega\]\n/;
    const cases: [string[], RegExp][] = [
      [['serve', '--help'], serveUsage],
      [['serve', '--port', '9000', '-h'], serveUsage],
      [['help', 'serve'], serveUsage],
      [['migrate', '--help'], /^Usage:\n  latchkey migrate \[--database URL\]\n/],
      [['users', '--help'], /^Usage:\n  latchkey users create [^]*  latchkey users list [^]*  latchkey users import /],
      [['help', 'users'], /^Usage:\n  latchkey users create [^]*  latchkey users import /],
      [['users', 'create', '--help'], createUsage],
      [['help', 'users', 'create'], createUsage],
      [
        ['users', 'set-password', '--username', 'ada', '-h'],
        /^Usage:\n  latchkey users set-password --username U \(--password P \| --password-stdin\)\n/,
      ],
      [['users', 'import', '--help'], importUsage],
      [['help', 'import'], importUsage],
      [['import', '--help'], importUsage],
      [['keys', '--help'], /^Usage:\n  latchkey keys rotate \[--now\]\n[^]*  latchkey keys list \[--json\]\n/],
      [['keys', 'list', '--help'], /^Usage:\n  latchkey keys list \[--json\]\n/],
      [['help'], /^Usage: latchkey <command> [^]*latchkey serve [^]*latchkey keys list/],
      [['--help'], /^Usage: latchkey <command> /],
    ];
    for (const [args, usage] of cases) {
      const res = await ws.run(args);
      assert.equal(res.code, 0, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stdout, usage, args.join(' '));
      assert.match(res.stdout, /Configuration comes from the environment and a \.env file/, args.join(' '));
      assert.equal(res.stderr, '', args.join(' '));
    }
    // One command's help is that command's, not the whole list.
    assert.doesNotMatch((await ws.run(['users', 'create', '--help'])).stdout, /users list|keys|serve/);
    assert.ok(!existsSync(join(ws.dir, 'latchkey.db')), 'no database was created');
  });

  test('bad usage is refused (exit 2, with the usage) before any database is opened or created', async () => {
    const cases: [string[], RegExp][] = [
      [['users', 'create', '--username', 'ada'], /^latchkey: give --password P or --password-stdin /],
      [['users', 'create', '--password', PASSWORD], /^latchkey: --username is required\nUsage:\n  latchkey users create /],
      [['users', 'list', '--bogus'], /^latchkey: Unknown option '--bogus'\nUsage:\n  latchkey users list /],
      [['users', 'list', '--role', 'ADMIN'], /^latchkey: --role does not apply to users list\nUsage:\n  latchkey users list /],
      [
        ['users', 'set-role', '--username', 'ada', '--role', 'ADMIN', '--password', 'x'],
        /^latchkey: --password does not apply to users set-role\n/,
      ],
      [['users', 'frobnicate'], /^latchkey: unknown users command: frobnicate\nUsage:\n  latchkey users create /],
      [['users'], /^latchkey: unknown users command: \(none\)\n/],
      [['users', 'set-role', '--username', 'ada', '--role', 'GOD'], /^latchkey: --role: must be ADMIN or STANDARD\n$/],
      [['users', 'set-password', '--username', 'ada'], /^latchkey: --password or --password-stdin is required\n/],
      [['users', 'import'], /^latchkey: users import takes one FILE\n/],
      [['users', 'import', join(ws.dir, 'missing.csv')], /^latchkey: FILE: .*missing\.csv: cannot read it \(ENOENT\)\n$/],
      [['migrate', 'now'], /^latchkey: unexpected argument \(not shown: it may be a secret\)\nUsage:\n  latchkey migrate /],
      [
        ['keys', 'rotate', 'now'],
        /^latchkey: unexpected argument: now \(did you mean --now\?\)\nUsage:\n  latchkey keys rotate \[--now\]\n/,
      ],
      [
        ['users', 'set-password', '--username', 'bob', 'S3cret-pass-word'],
        /^latchkey: unexpected argument \(not shown: it may be a secret\)\n/,
      ],
      [['keys', 'spin'], /^latchkey: unknown keys command: spin\n/],
      [
        ['import', 'users.csv'],
        /^latchkey: unknown command: import \(it is latchkey users import FILE\)\nUsage:\n  latchkey users import FILE/,
      ],
      [['help', 'frobnicate'], /^latchkey: no such command: frobnicate\nUsage: latchkey <command> /],
      [[], /^Usage: latchkey <command> /],
    ];
    for (const [args, message] of cases) {
      const res = await ws.run(args);
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, message, args.join(' '));
      assert.doesNotMatch(res.stderr, /place it at the end/, "Node's raw parseArgs advice is not shown");
      assert.equal(res.stdout, '', args.join(' '));
    }
    assert.ok(!existsSync(join(ws.dir, 'latchkey.db')), 'no database was created');
  });
});

describe('runtime errors name the database (without its password) and what to check', () => {
  const ws = workspace();
  after(() => ws.remove());

  test('an unreachable PostgreSQL', async () => {
    const port = await closedPort();
    const res = await runCli(['migrate'], { env: { DATABASE_URL: `postgres://latchkey:hunter2-secret@127.0.0.1:${port}/latchkey` } });
    assert.equal(res.code, 1, res.stderr);
    assert.equal(
      res.stderr,
      `latchkey: cannot reach PostgreSQL at postgres://latchkey:***@127.0.0.1:${port}/latchkey (connect ECONNREFUSED 127.0.0.1:${port}): ` +
        'check that the server is running and that DATABASE_URL names its host and port\n',
    );
    assert.equal(res.stdout, '');
  });

  test('a DATABASE_URL that is malformed or of another engine is never echoed with its password', async () => {
    for (const url of ['mysql://app:hunter2-secret@db.example.com/latchkey', 'postgres://app:hunter2-secret@127.0.0.1:notaport/latchkey']) {
      const res = await runCli(['users', 'list'], { env: { DATABASE_URL: url } });
      assert.notEqual(res.code, 0, url);
      assert.match(res.stderr, /^latchkey: .*app:\*\*\*@/, url);
      assert.doesNotMatch(res.stderr + res.stdout, /hunter2/, url);
    }
    // Through --database too: the message names the flag.
    const flag = await runCli(['migrate', '--database', 'mysql://app:hunter2-secret@db/x']);
    assert.equal(flag.code, 2, flag.stderr);
    assert.equal(flag.stderr, 'latchkey: --database: must be sqlite:PATH, sqlite::memory: or postgres://… (got "mysql://app:***@db/x")\n');
  });

  test('a file that is not a SQLite database', async () => {
    const file = join(ws.dir, 'notes.txt');
    writeFileSync(file, 'these are my notes, not a database\n'.repeat(200));
    const res = await runCli(['migrate'], { env: { DATABASE_URL: `sqlite:${file}` } });
    assert.equal(res.code, 1, res.stderr);
    assert.equal(
      res.stderr,
      `latchkey: ${file} is not a SQLite database (file is not a database): point DATABASE_URL at a Latchkey database file, or at a new path to start a new one\n`,
    );
  });

  test('a SQLite path that is a folder', async () => {
    const res = await runCli(['migrate'], { env: { DATABASE_URL: `sqlite:${ws.dir}` } });
    assert.equal(res.code, 1, res.stderr);
    assert.equal(
      res.stderr,
      `latchkey: cannot open the SQLite database ${ws.dir} (EISDIR: illegal operation on a directory, open '${ws.dir}'): check that it is a file (not a folder) this user may read and write, in a folder it may write to\n`,
    );
  });

  test('a SQLite path whose folder cannot be made', async () => {
    const blocker = join(ws.dir, 'blocker');
    writeFileSync(blocker, 'a file where the folder should be');
    const file = join(blocker, 'latchkey.db');
    const res = await runCli(['users', 'list'], { env: { DATABASE_URL: `sqlite:${file}` } });
    assert.equal(res.code, 1, res.stderr);
    const escaped = file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    // Node reports a file in the way of mkdir as EEXIST on some systems and ENOTDIR on others.
    assert.match(
      res.stderr,
      new RegExp(
        `^latchkey: cannot create the folder of the SQLite database ${escaped} \\((EEXIST|ENOTDIR)\\): check that DATABASE_URL names a path this user may write to\n$`,
      ),
    );
  });
});

describe('latchkey users create --unverified (SPEC §10)', () => {
  const ws = workspace();
  after(() => ws.remove());

  test('a CLI user is verified unless --unverified says otherwise', async () => {
    const made = await ws.run([
      'users',
      'create',
      '--username',
      'una',
      '--email',
      'una@example.com',
      '--password',
      PASSWORD,
      '--unverified',
    ]);
    assert.equal(made.code, 0, made.stderr);
    const plain = await ws.run(['users', 'create', '--username', 'vic', '--email', 'vic@example.com', '--password', PASSWORD]);
    assert.equal(plain.code, 0, plain.stderr);
    const store = await openStore(ws.url);
    try {
      const rows = await store.db.selectFrom('users').select(['username', 'email_verified']).orderBy('username').execute();
      assert.deepEqual(rows, [
        { username: 'una', email_verified: 0 },
        { username: 'vic', email_verified: 1 },
      ]);
    } finally {
      await store.close();
    }
  });
});
