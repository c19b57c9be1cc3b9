import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as argon2 from '@node-rs/argon2';
import * as bcrypt from '@node-rs/bcrypt';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { guessFormat, importUsers, readImportSource } from '../src/auth/import.ts';
import { type TestServer, claimsOf, matrix, startTestServer } from './support/server.ts';
import { type CliResult, runCli } from './support/cli.ts';

/** Runs the `latchkey` command in-process with only the given environment (and no .env file). */
function latchkey(args: string[], env: Record<string, string>): Promise<CliResult> {
  return runCli(args, { env });
}

const dir = mkdtempSync(join(tmpdir(), 'latchkey-import-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const VEGA_ADMIN_PASSWORD = 'vega admin passphrase';
const JANE_PASSWORD = 'jane old passphrase';

/** A Vega AI database as Vega's own migration creates it, with Go-style `$2a$` bcrypt hashes (cost 10). */
async function buildVegaDatabase(path: string): Promise<void> {
  const adminHash = await bcrypt.hash(VEGA_ADMIN_PASSWORD, { cost: 10, version: '2a' });
  const janeHash = await bcrypt.hash(JANE_PASSWORD, { cost: 10, version: '2a' });
  assert.match(adminHash, /^\$2a\$10\$/);
  const db = new SQLite(path);
  db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT UNIQUE NOT NULL, password TEXT NOT NULL,
    role INTEGER NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, last_login TIMESTAMP)`);
  const insert = db.prepare('INSERT INTO users (username, password, role) VALUES (?, ?, ?)');
  insert.run('vega-admin', adminHash, 0);
  insert.run('jane@example.com', janeHash, 1);
  // Vega's Google sign-in creates users with an empty password.
  insert.run('google.user@example.com', '', 1);
  // Already in Latchkey (the test server's admin): skipped, untouched.
  insert.run('root', janeHash, 1);
  db.close();
}

const vegaFile = join(dir, 'vega.db');
const vegaReady = buildVegaDatabase(vegaFile);

for (const { style, engine, name } of matrix()) {
  describe(`users import (${name})`, () => {
    let server: TestServer;
    before(async () => {
      await vegaReady;
      server = await startTestServer({ style, engine });
    });
    after(() => server.close());

    const login = (username: string, password: string) => server.request('POST', '/api/auth/login', { body: { username, password } });

    /**
     * Imports the Vega file as an operator does: with the real command in the flat runs; in the envelope
     * runs with the function the command calls, in-process (another CLI start per engine would only add
     * seconds: the style changes nothing about importing). Returns the counts and, from the CLI, its output.
     */
    const importVega = async (args: string[]): Promise<{ imported: number; existing: number; refused: number; stdout?: string }> => {
      if (style === 'flat') {
        const res = await latchkey(['users', 'import', ...args, vegaFile], { DATABASE_URL: server.database.url });
        assert.equal(res.code, 0, res.stderr);
        const counts = /imported (\d+) of \d+ users \(vega\); skipped (\d+) existing, (\d+) refused\n$/.exec(res.stdout);
        assert.ok(counts, res.stdout);
        return { imported: Number(counts[1]), existing: Number(counts[2]), refused: Number(counts[3]), stdout: res.stdout };
      }
      const report = await importUsers(server.core, readImportSource(vegaFile, args[0] === '--format' ? 'vega' : undefined), {
        actorUserId: null,
      });
      const existing = report.skipped.filter((r) => r.kind === 'exists').length;
      return { imported: report.imported.length, existing, refused: report.skipped.length - existing };
    };

    test('a Vega AI database imports with its roles; users log in with their old passwords, re-hashed on first login', async () => {
      const rootBefore = await server.core.users.getByUsername('root');
      const res = await importVega([]);
      assert.deepEqual([res.imported, res.existing, res.refused], [3, 1, 0]);
      if (res.stdout !== undefined)
        assert.equal(res.stdout, 'skipped id 4 (root): username exists\nimported 3 of 4 users (vega); skipped 1 existing, 0 refused\n');

      const admin = await server.core.users.getByUsername('vega-admin');
      assert.equal(admin.role, 'ADMIN');
      assert.match(admin.passwordHash ?? '', /^\$2a\$10\$/);
      const ok = await login('vega-admin', VEGA_ADMIN_PASSWORD);
      assert.equal(ok.status, 200);
      const token = style === 'flat' ? ok.body.token : ok.body.data.token;
      assert.equal(claimsOf(token).role, 'ADMIN');
      // Re-hashed with this server's argon2id cost (passwords.test.ts checks that it is SPEC's by default).
      const rehashed = (await server.core.users.getByUsername('vega-admin')).passwordHash ?? '';
      assert.match(rehashed, /^\$argon2id\$v=19\$/);
      assert.equal(server.core.hasher.needsRehash(rehashed), false);
      assert.equal((await login('vega-admin', 'not the password')).status, 401);

      // Vega's usernames are usually emails: kept as the email too, so either logs in.
      const jane = await server.core.users.getByUsername('jane@example.com');
      assert.deepEqual([jane.role, jane.email], ['STANDARD', 'jane@example.com']);
      assert.equal((await login('jane@example.com', JANE_PASSWORD)).status, 200);

      // A Google-only Vega account has no password here either.
      assert.equal((await server.core.users.getByUsername('google.user@example.com')).passwordHash, null);
      assert.equal((await login('google.user@example.com', '')).status, 400);
      assert.equal((await login('google.user@example.com', 'anything at all')).status, 401);

      // The existing user was not touched.
      assert.deepEqual(await server.core.users.getByUsername('root'), rootBefore);
      const created = await server.core.audit.list({ type: 'user_created', userId: admin.id });
      assert.equal(created.total, 1);
      assert.equal(created.items[0]?.actor_user_id, null);
    });

    test('running the same import again changes nothing', async () => {
      const count = await server.core.users.count();
      const upgraded = (await server.core.users.getByUsername('vega-admin')).passwordHash;
      const res = await importVega(['--format', 'vega']);
      assert.deepEqual([res.imported, res.existing, res.refused], [0, 4, 0]);
      assert.equal(await server.core.users.count(), count);
      // The upgraded hash is not replaced by the old bcrypt one.
      assert.equal((await server.core.users.getByUsername('vega-admin')).passwordHash, upgraded);
      assert.equal((await login('vega-admin', VEGA_ADMIN_PASSWORD)).status, 200);
    });

    test('JSON rows import with bcrypt or argon2 hashes; bad rows are refused with the field at fault, never the hash', async () => {
      const argonHash = await argon2.hash('json pass phrase', {
        algorithm: 2 as argon2.Algorithm,
        memoryCost: 4096,
        timeCost: 1,
        parallelism: 1,
      });
      const bcryptHash = await bcrypt.hash('bcrypt pass phrase', { cost: 10, version: '2b' });
      await server.createUser('mailowner', { email: 'owner@example.com' });
      const file = join(dir, `users-${style}-${engine}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          users: [
            { username: 'jason', email: 'jason@example.com', role: 'ADMIN', password_hash: argonHash },
            { username: 'bea', role: 'standard', password_hash: bcryptHash },
            { username: 'nohash', email: null },
            { username: 'leaky', password_hash: 'plain-text-password' },
            { username: 'dupe', email: 'JASON@example.com', password_hash: bcryptHash },
            { username: 'JASON' },
            { username: 'ro' },
            { username: 'rolebad', role: 'superuser' },
            { username: 'mailbad', email: 'not an email' },
            'not an object',
            { username: 'mailthief', email: 'OWNER@example.com' },
            // Well-formed, but a login would spend a day (bcrypt 31) or 4 GiB (argon2 m=4194304) on each.
            { username: 'slowbcrypt', password_hash: bcryptHash.replace(/^\$2b\$10\$/, '$2b$31$') },
            { username: 'hugeargon', password_hash: argonHash.replace(/m=4096/, 'm=4194304') },
          ],
        }),
      );
      assert.equal(guessFormat(file), 'json');
      const report = await importUsers(server.core, readImportSource(file), { actorUserId: null });
      assert.deepEqual(
        report.imported.map((r) => r.username),
        ['jason', 'bea', 'nohash'],
      );
      assert.deepEqual(
        report.skipped.map((s) => [s.ref, s.kind, s.reason]),
        [
          ['row 4', 'refused', 'password_hash is not a bcrypt or argon2 hash'],
          ['row 5', 'refused', 'duplicate in file: same email as row 1'],
          ['row 6', 'refused', 'duplicate in file: same username as row 1'],
          ['row 7', 'refused', 'username must be 3 to 50 characters long'],
          ['row 8', 'refused', 'role must be ADMIN or STANDARD (Vega: 0 or 1)'],
          ['row 9', 'refused', 'email must be an email address'],
          ['row 10', 'refused', 'username is missing'],
          ['row 11', 'refused', 'email is taken by another user'],
          ['row 12', 'refused', 'password_hash costs more than bcrypt 15 to verify'],
          ['row 13', 'refused', 'password_hash costs more than argon2 m=262144,t=16,p=16 to verify'],
        ],
      );
      assert.doesNotMatch(JSON.stringify(report), /plain-text-password|\$argon2|\$2b\$/);
      assert.equal((await login('jason', 'json pass phrase')).status, 200);
      assert.equal((await login('bea', 'bcrypt pass phrase')).status, 200);
      assert.equal((await server.core.users.getByUsername('jason')).role, 'ADMIN');
      assert.equal((await server.core.users.getByUsername('bea')).role, 'STANDARD');
    });

    test('CSV with a header, quotes, CRLF and a BOM imports; a record with the wrong column count is refused', async () => {
      const hash = await bcrypt.hash('csv pass phrase', { cost: 10, version: '2y' });
      const file = join(dir, `users-${style}-${engine}.csv`);
      writeFileSync(
        file,
        '\uFEFFusername,email,role,password_hash\r\n' +
          `"o""brien",obrien@example.com,admin,${hash}\r\n` +
          '\r\n' +
          `"smith, anna",,Standard,"${hash}"\r\n` +
          'short,row\r\n' +
          // A line break inside quotes: the row is named by the line it starts on.
          `"two\nlines",,,${hash}\r\n`,
      );
      assert.equal(guessFormat(file), 'csv');
      const report = await importUsers(server.core, readImportSource(file));
      assert.deepEqual(
        report.imported.map((r) => [r.ref, r.username]),
        [
          ['line 2', 'o"brien'],
          ['line 4', 'smith, anna'],
        ],
      );
      assert.deepEqual(report.skipped[0], {
        ref: 'line 5',
        username: null,
        kind: 'refused',
        reason: 'row has 2 columns where the header has 4',
      });
      assert.deepEqual(
        report.skipped.slice(1).map((r) => [r.ref, r.username, r.kind]),
        [['line 6', 'two\nlines', 'refused']],
      );
      assert.equal((await server.core.users.getByUsername('o"brien')).role, 'ADMIN');
      assert.equal((await login('smith, anna', 'csv pass phrase')).status, 200);
      assert.equal(guessFormat(vegaFile), 'vega');
    });

    if (style === 'flat') {
      test('a user twice in a CSV file: the first row is imported, the others are refused naming its line, exit 1 on every run', async () => {
        const file = join(dir, `twice-${engine}.csv`);
        writeFileSync(
          file,
          'username,email,role\n' + 'ada,ada@example.com,ADMIN\n' + 'Ada,,STANDARD\n' + 'lovelace,ADA@example.com,\n' + 'ada,,\n',
        );
        const duplicates =
          'skipped line 3 (Ada): duplicate in file: same username as line 2\n' +
          'skipped line 4 (lovelace): duplicate in file: same email as line 2\n' +
          'skipped line 5 (ada): duplicate in file: same username as line 2\n';
        const first = await latchkey(['users', 'import', file], { DATABASE_URL: server.database.url });
        assert.equal(first.stdout, duplicates + 'imported 1 of 4 users (csv); skipped 0 existing, 3 refused\n');
        assert.equal(first.code, 1, first.stderr);
        const ada = await server.core.users.getByUsername('ada');
        assert.deepEqual([ada.username, ada.email, ada.role], ['ada', 'ada@example.com', 'ADMIN']);
        assert.equal(await server.core.users.findByUsername('lovelace'), undefined);
        // A re-run is not mistaken for a harmless one: the repeats are still refused.
        const again = await latchkey(['users', 'import', file], { DATABASE_URL: server.database.url });
        assert.equal(
          again.stdout,
          'skipped line 2 (ada): username exists\n' + duplicates + 'imported 0 of 4 users (csv); skipped 1 existing, 3 refused\n',
        );
        assert.equal(again.code, 1, again.stderr);
      });

      test('a user twice in a JSON file: the second row is refused naming the first, exit 1', async () => {
        const file = join(dir, `twice-${engine}.json`);
        writeFileSync(
          file,
          JSON.stringify([
            { username: 'grace', role: 'ADMIN' },
            { username: 'GRACE', role: 'STANDARD' },
          ]),
        );
        const res = await latchkey(['users', 'import', file], { DATABASE_URL: server.database.url });
        assert.equal(
          res.stdout,
          'skipped row 2 (GRACE): duplicate in file: same username as row 1\nimported 1 of 2 users (json); skipped 0 existing, 1 refused\n',
        );
        assert.equal(res.code, 1, res.stderr);
        assert.equal((await server.core.users.getByUsername('grace')).role, 'ADMIN');
      });

      test('an error part-way prints what was imported before it and that the rest was not, exit 1', async () => {
        // The database refuses one insert, as a database that goes away would.
        const db = server.core.store.db;
        if (engine === 'sqlite') {
          await sql`create trigger refuse_boom before insert on users when new.username = 'boom'
            begin select raise(abort, 'insert refused'); end`.execute(db);
        } else {
          await sql`create function refuse_boom() returns trigger language plpgsql as $$
            begin raise exception 'insert refused'; end $$`.execute(db);
          await sql`create trigger refuse_boom before insert on users
            for each row when (new.username = 'boom') execute function refuse_boom()`.execute(db);
        }
        try {
          const file = join(dir, `interrupted-${engine}.json`);
          writeFileSync(
            file,
            JSON.stringify([{ username: 'before-boom' }, { username: 'x' }, { username: 'boom' }, { username: 'after-boom' }]),
          );
          const res = await latchkey(['users', 'import', file], { DATABASE_URL: server.database.url });
          assert.equal(
            res.stdout,
            'skipped row 2 (x): username must be 3 to 50 characters long\n' +
              'imported 1 of 4 users (json); skipped 0 existing, 1 refused; stopped by an error at row 3: the last 2 rows were not imported\n',
          );
          assert.match(res.stderr, /^latchkey: import stopped at row 3: .*insert refused/);
          assert.equal(res.code, 1);
          assert.ok(await server.core.users.findByUsername('before-boom'));
          assert.equal(await server.core.users.findByUsername('boom'), undefined);
          assert.equal(await server.core.users.findByUsername('after-boom'), undefined);
        } finally {
          if (engine === 'sqlite') await sql`drop trigger refuse_boom`.execute(db);
          else {
            await sql`drop trigger refuse_boom on users`.execute(db);
            await sql`drop function refuse_boom()`.execute(db);
          }
        }
      });
    }

    if (style === 'flat' && engine === 'sqlite') {
      test('the command exits 1 when rows were refused, and 2 for a file it cannot read in the format given', async () => {
        const file = join(dir, 'refused.json');
        writeFileSync(file, JSON.stringify([{ username: 'fine-user' }, { username: 'x' }]));
        const refused = await latchkey(['users', 'import', file], { DATABASE_URL: server.database.url });
        assert.equal(refused.code, 1);
        assert.equal(
          refused.stdout,
          'skipped row 2 (x): username must be 3 to 50 characters long\nimported 1 of 2 users (json); skipped 0 existing, 1 refused\n',
        );
        const wrongFormat = await latchkey(['users', 'import', '--format', 'vega', file], { DATABASE_URL: server.database.url });
        assert.equal(wrongFormat.code, 2);
        assert.match(wrongFormat.stderr, /^latchkey: FILE: .*refused\.json: not a readable SQLite database/);
      });
    }
  });
}

describe('users import file errors', () => {
  test('unreadable files and bad JSON or CSV are refused before anything is imported', () => {
    const missing = join(dir, 'missing.json');
    assert.throws(() => readImportSource(missing), /ENOENT/);
    const badJson = join(dir, 'bad.json');
    writeFileSync(badJson, '[{"username": ');
    assert.throws(() => readImportSource(badJson), /^ImportFileError: not valid JSON/);
    writeFileSync(badJson, '{"people": []}');
    assert.throws(() => readImportSource(badJson), /JSON must be an array of users/);
    const badCsv = join(dir, 'bad.csv');
    writeFileSync(badCsv, 'email,role\nx@example.com,ADMIN\n');
    assert.throws(() => readImportSource(badCsv), /must name a username column/);
    writeFileSync(badCsv, 'username\nada\n"unterminated\nmore\n');
    assert.throws(() => readImportSource(badCsv), /^ImportFileError: not valid CSV: Quote Not Closed: .* at line 4$/);
    const notVega = join(dir, 'other.db');
    const db = new SQLite(notVega);
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)');
    db.close();
    assert.throws(() => readImportSource(notVega), /not a Vega AI database: its users table has no username column/);
  });
});
