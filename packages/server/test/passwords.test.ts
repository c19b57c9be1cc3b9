import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import * as argon2 from '@node-rs/argon2';
import type { Algorithm as Argon2Algorithm } from '@node-rs/argon2';
import * as bcrypt from '@node-rs/bcrypt';
import { OWASP_ARGON2ID as OWASP_ARGON2, PasswordHasher, checkNewPassword, isCommonPassword } from '../src/auth/passwords.ts';
import { type PasswordHashAlg, parseConfig } from '../src/config.ts';
import { openCore } from '../src/core.ts';
import { RefusedValue } from '../src/errors.ts';
import { PASSWORD, type TestServer, errorOf, matrix, startTestServer } from './support/server.ts';

const OWASP_ARGON2ID = /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/;
const ARGON2I = 1 as Argon2Algorithm;
const ARGON2ID = 2 as Argon2Algorithm;

// Published vectors from other bcrypt implementations, so "verifies" does not only mean "agrees with itself".
/** PHP's password_verify documentation: `$2y$`. */
const PHP_2Y = { password: 'rasmuslerdorf', hash: '$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a' };
/** OpenBSD / jBCrypt test vectors: `$2a$`. */
const OPENWALL_2A = { password: 'U*U', hash: '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW' };

function refused(password: string, algorithm: PasswordHashAlg): string | undefined {
  try {
    checkNewPassword(password, algorithm);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof RefusedValue, String(error));
    assert.equal(error.field, 'password');
    return error.message;
  }
}

describe('new password rules', () => {
  test('a new password has 8 to 128 characters, counted as characters, not UTF-16 units or bytes', () => {
    const unit = 'Zq7!k#2m'; // 8 characters, not a common password
    assert.match(refused(unit.slice(0, 7), 'argon2id') ?? '', /8 to 128 characters/);
    assert.equal(refused(unit, 'argon2id'), undefined);
    assert.equal(refused(unit.repeat(16), 'argon2id'), undefined);
    assert.match(refused(unit.repeat(16) + 'x', 'argon2id') ?? '', /8 to 128 characters/);
    // Eight emoji are eight characters (sixteen UTF-16 units, thirty-two bytes).
    assert.equal(refused('🔑'.repeat(8), 'argon2id'), undefined);
    assert.match(refused('🔑'.repeat(7), 'argon2id') ?? '', /8 to 128/);
    assert.equal(refused('🔑'.repeat(128), 'argon2id'), undefined);
    assert.match(refused('🔑'.repeat(129), 'argon2id') ?? '', /8 to 128/);
  });

  test('the 10,000 most common passwords are refused, exactly as typed', () => {
    for (const common of ['password1', 'qwerty123', 'iloveyou', 'sunshine1']) {
      assert.ok(isCommonPassword(common), common);
      assert.match(refused(common, 'argon2id') ?? '', /most common passwords/, common);
      assert.match(refused(common, 'bcrypt') ?? '', /most common passwords/, common);
    }
    // No case folding and no trimming: these differ from the listed ones and are accepted.
    for (const variant of ['Password1', 'QWERTY123', ' password1', 'password1 ', 'qwerty123\t']) {
      assert.equal(refused(variant, 'argon2id'), undefined, JSON.stringify(variant));
    }
  });

  test('with bcrypt, more than 72 UTF-8 bytes is refused; argon2id takes them', () => {
    assert.equal(refused('a'.repeat(72), 'bcrypt'), undefined);
    assert.match(refused('a'.repeat(73), 'bcrypt') ?? '', /72 bytes/);
    // 24 euro signs are 72 bytes; 25 are 75 bytes although only 25 characters.
    assert.equal(refused('€'.repeat(24), 'bcrypt'), undefined);
    assert.match(refused('€'.repeat(25), 'bcrypt') ?? '', /72 bytes/);
    assert.equal(refused('€'.repeat(25), 'argon2id'), undefined);
    assert.equal(refused('a'.repeat(128), 'argon2id'), undefined);
  });
});

describe('password hashes', () => {
  const argon = new PasswordHasher({ algorithm: 'argon2id', bcryptCost: 10 });
  const bcrypt10 = new PasswordHasher({ algorithm: 'bcrypt', bcryptCost: 10 });

  test("a server started without argon2Cost (as `latchkey serve` starts) hashes at SPEC's cost", async () => {
    const core = await openCore(parseConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent' }), { background: false });
    try {
      const stored = await core.hasher.hash('correct horse battery');
      assert.match(stored, OWASP_ARGON2ID);
      assert.equal(core.hasher.needsRehash(stored), false);
    } finally {
      await core.close();
    }
  });

  test('argon2id hashes use OWASP parameters m=19456, t=2, p=1 and a fresh salt', async () => {
    const a = await argon.hash('correct horse battery');
    const b = await argon.hash('correct horse battery');
    assert.match(a, OWASP_ARGON2ID);
    assert.notEqual(a, b);
    assert.equal(await argon.verify(a, 'correct horse battery'), true);
    assert.equal(await argon.verify(a, 'correct horse batterY'), false);
  });

  test('bcrypt hashes use the configured cost', async () => {
    const hash = await bcrypt10.hash('correct horse battery');
    assert.match(hash, /^\$2b\$10\$/);
    assert.equal(await bcrypt10.verify(hash, 'correct horse battery'), true);
  });

  test('$2a$, $2b$ and $2y$ bcrypt hashes all verify, whatever the configured algorithm', async () => {
    const own2b = await bcrypt.hash('imported passphrase', { cost: 4 });
    assert.match(own2b, /^\$2b\$04\$/);
    const cases = [
      PHP_2Y,
      OPENWALL_2A,
      { password: 'imported passphrase', hash: own2b },
      { password: 'imported passphrase', hash: own2b.replace(/^\$2b\$/, '$2a$') },
      { password: 'imported passphrase', hash: own2b.replace(/^\$2b\$/, '$2y$') },
    ];
    for (const hasher of [argon, bcrypt10]) {
      for (const { password, hash } of cases) {
        assert.equal(await hasher.verify(hash, password), true, hash);
        assert.equal(await hasher.verify(hash, password + '!'), false, hash);
      }
    }
  });

  test('a corrupt or foreign stored hash is a failed verification, not an error', async () => {
    for (const stored of [
      '',
      'plaintext',
      '$1$salt$md5crypt',
      '$argon2id$v=19$m=19456,t=2,p=1$broken',
      '$2b$10$short',
      '$5$rounds=5000$sha256',
    ]) {
      assert.equal(await argon.verify(stored, 'anything'), false, stored);
    }
  });

  test('needsRehash: another algorithm, other argon2 parameters or another bcrypt cost', async () => {
    const current = await argon.hash('correct horse battery');
    const weakArgon = await argon2.hash('correct horse battery', { algorithm: ARGON2ID, memoryCost: 4096, timeCost: 3, parallelism: 1 });
    const argon2i = await argon2.hash('correct horse battery', { algorithm: ARGON2I, memoryCost: 19456, timeCost: 2, parallelism: 1 });
    const bcryptCost4 = await bcrypt.hash('correct horse battery', { cost: 4 });
    const bcryptCost10 = await bcrypt.hash('correct horse battery', { cost: 10 });

    assert.equal(argon.needsRehash(current), false);
    assert.equal(argon.needsRehash(weakArgon), true);
    assert.equal(argon.needsRehash(argon2i), true);
    assert.equal(argon.needsRehash(bcryptCost10), true);
    assert.equal(argon.needsRehash('garbage'), true);

    assert.equal(bcrypt10.needsRehash(bcryptCost10), false);
    assert.equal(bcrypt10.needsRehash(bcryptCost10.replace(/^\$2b\$/, '$2y$')), false);
    assert.equal(bcrypt10.needsRehash(bcryptCost4), true);
    assert.equal(bcrypt10.needsRehash(current), true);
    assert.equal(bcrypt10.needsRehash('garbage'), true);
  });
});

/** Counts the hash verifications the server performs, recording the stored hash each one used. */
function countVerifications(server: TestServer): { hashes: string[]; restore(): void } {
  const hasher = server.core.hasher;
  const original = hasher.verify;
  const hashes: string[] = [];
  hasher.verify = async function (this: PasswordHasher, stored: string, password: string) {
    hashes.push(stored);
    return original.call(this, stored, password);
  };
  return { hashes, restore: () => void (hasher.verify = original) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

for (const { style, engine, name } of matrix()) {
  describe(`passwords over HTTP (${name})`, () => {
    let server: TestServer;
    before(async () => {
      // SPEC's cost: these tests are about the hashing itself.
      server = await startTestServer({ style, engine, argon2Cost: OWASP_ARGON2 });
      await server.createUser('ada');
      await server.createUser('dora');
      await server.core.accounts.setDisabled((await server.core.users.getByUsername('dora')).id, true);
      // A Google-only account: no password hash at all.
      await server.core.accounts.create({ username: 'gina', googleSub: 'google-subject-1' });
    });
    after(() => server.close());

    const login = (username: string, password: string) => server.request('POST', '/api/auth/login', { body: { username, password } });

    test('an unknown user, a wrong password, a disabled user and a password-less account each cost one real argon2id verification', async () => {
      await login('nobody-warmup', 'wrong password'); // the dummy hash is made once, lazily
      const spy = countVerifications(server);
      try {
        for (const [username, password] of [
          ['ada', 'wrong password'],
          ['nobody', 'wrong password'],
          ['dora', PASSWORD],
          ['gina', 'wrong password'],
        ] as const) {
          spy.hashes.length = 0;
          const res = await login(username, password);
          assert.equal(res.status, 401, username);
          assert.equal(errorOf(res, style), style === 'flat' ? 'invalid username or password' : 'INVALID_CREDENTIALS');
          assert.equal(spy.hashes.length, 1, `${username}: one verification`);
          // The same algorithm and parameters as a real user's hash, so the work is the same.
          assert.match(spy.hashes[0] ?? '', OWASP_ARGON2ID, username);
        }
      } finally {
        spy.restore();
      }
    });

    test('an unknown user takes about as long as a wrong password (a generous ratio, no absolute time)', async () => {
      const known: number[] = [];
      const unknown: number[] = [];
      for (let i = 0; i < 7; i++) {
        // Interleaved, so that load from elsewhere on the machine hits both alike.
        for (const [samples, username] of [
          [known, 'ada'],
          [unknown, `nobody-${i}`],
        ] as const) {
          const start = performance.now();
          const res = await login(username, 'wrong password');
          samples.push(performance.now() - start);
          assert.equal(res.status, 401);
        }
      }
      const ratio = median(unknown) / median(known);
      assert.ok(
        ratio > 1 / 3 && ratio < 3,
        `unknown/known median ratio ${ratio.toFixed(2)} (${median(unknown).toFixed(1)} / ${median(known).toFixed(1)} ms)`,
      );
    });

    test('a $2y$ hash imported from PHP logs in and is upgraded to argon2id', async () => {
      const user = await server.core.accounts.create({ username: 'rasmus', passwordHash: PHP_2Y.hash });
      assert.equal((await login('rasmus', PHP_2Y.password + 'x')).status, 401);
      assert.equal((await server.core.users.findById(user.id))?.passwordHash, PHP_2Y.hash, 'a failed login changes nothing');
      assert.equal((await login('rasmus', PHP_2Y.password)).status, 200);
      assert.match((await server.core.users.findById(user.id))?.passwordHash ?? '', OWASP_ARGON2ID);
      assert.equal((await login('rasmus', PHP_2Y.password)).status, 200);
    });

    test('a hash with weaker argon2id parameters is upgraded on the next successful login', async () => {
      const weak = await argon2.hash(PASSWORD, { algorithm: ARGON2ID, memoryCost: 4096, timeCost: 3, parallelism: 1 });
      const user = await server.core.accounts.create({ username: 'old-params', passwordHash: weak });
      assert.equal((await login('old-params', PASSWORD)).status, 200);
      const stored = (await server.core.users.findById(user.id))?.passwordHash ?? '';
      assert.match(stored, OWASP_ARGON2ID);
      assert.equal(await server.core.hasher.verify(stored, PASSWORD), true);
    });

    test('a password is checked exactly as typed: no trimming, no case folding', async () => {
      await server.createUser('exact', { password: ' Mixed Case pass ' });
      for (const wrong of ['Mixed Case pass', ' mixed case pass ', ' MIXED CASE PASS ', ' Mixed Case pass  ']) {
        assert.equal((await login('exact', wrong)).status, 401, JSON.stringify(wrong));
      }
      assert.equal((await login('exact', ' Mixed Case pass ')).status, 200);
    });
  });

  describe(`passwords with LATCHKEY_PASSWORD_HASH=bcrypt (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine, env: { LATCHKEY_PASSWORD_HASH: 'bcrypt', LATCHKEY_BCRYPT_COST: '10' } });
    });
    after(() => server.close());

    const login = (username: string, password: string) => server.request('POST', '/api/auth/login', { body: { username, password } });

    test('a new password over 72 bytes is refused naming the field; 72 bytes are stored and log in', async () => {
      await assert.rejects(server.createUser('long', { password: '€'.repeat(25) }), (error: unknown) => {
        assert.ok(error instanceof RefusedValue);
        assert.equal(error.field, 'password');
        assert.match(error.message, /72 bytes/);
        return true;
      });
      assert.equal(await server.core.users.findByUsername('long'), undefined);
      const user = await server.createUser('long', { password: '€'.repeat(24) });
      assert.match(user.passwordHash ?? '', /^\$2b\$10\$/);
      assert.equal((await login('long', '€'.repeat(24))).status, 200);
      assert.equal((await login('long', '€'.repeat(23))).status, 401);
    });

    test('an argon2id hash still logs in and is re-hashed with bcrypt at the configured cost', async () => {
      const user = await server.core.accounts.create({
        username: 'argon-user',
        passwordHash: await new PasswordHasher({ algorithm: 'argon2id', bcryptCost: 10 }).hash(PASSWORD),
      });
      assert.equal((await login('argon-user', PASSWORD)).status, 200);
      assert.match((await server.core.users.findById(user.id))?.passwordHash ?? '', /^\$2b\$10\$/);
      assert.equal((await login('argon-user', PASSWORD)).status, 200);
    });

    test('an unknown user costs one bcrypt verification at the configured cost', async () => {
      await login('nobody-warmup', 'wrong password');
      const spy = countVerifications(server);
      try {
        assert.equal((await login('nobody', 'wrong password')).status, 401);
        assert.equal(spy.hashes.length, 1);
        assert.match(spy.hashes[0] ?? '', /^\$2b\$10\$/);
      } finally {
        spy.restore();
      }
    });
  });
}
