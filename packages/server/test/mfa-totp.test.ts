import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, UnknownRow } from 'kysely';
import { InvalidCode, InvalidMfaToken } from '../src/errors.ts';
import { TotpFactor } from '../src/mfa/totp.ts';
import { openStore } from '../src/store/database.ts';
import { totpAt, totpCode, base32Decode } from './support/totp.ts';
import { PASSWORD, type Style, type TestServer, claimsOf, errorOf, matrix, startTestServer, tokensOf } from './support/server.ts';

const ENCRYPTION_SECRET = 'an operator secret for sealing, long enough';

/** The body's data whatever the style. */
function dataOf(res: { body: any }, style: Style): any {
  return style === 'flat' ? res.body : res.body.data;
}

/** A 6-digit code that no step of the window accepts now. */
function wrongCode(secret: string): string {
  const valid = new Set([-1, 0, 1].map((d) => totpCode(secret, d)));
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, '0');
    if (!valid.has(code)) return code;
  }
}

describe('the TOTP test helper', () => {
  test('computes the RFC 6238 appendix B vectors (SHA-1)', () => {
    const key = Buffer.from('12345678901234567890', 'ascii');
    const vectors: [number, string][] = [
      [59, '94287082'],
      [1111111109, '07081804'],
      [1111111111, '14050471'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
      [20000000000, '65353130'],
    ];
    for (const [seconds, code] of vectors) assert.equal(totpAt(key, seconds * 1000, 8), code, `T=${seconds}`);
    assert.deepEqual(base32Decode('GEZDGNBVGY3TQOJQ'), Buffer.from('1234567890'));
  });
});

/** Runs `between` once, after the first read of `table` and before its rows reach the code that asked. */
class AfterFirstRead implements KyselyPlugin {
  readonly #reads = new Set<object>();
  #armed = true;

  constructor(
    private readonly table: string,
    private readonly between: () => Promise<unknown>,
  ) {}

  transformQuery({ node, queryId }: PluginTransformQueryArgs) {
    if (this.#armed && node.kind === 'SelectQueryNode' && JSON.stringify(node).includes(`"name":"${this.table}"`)) {
      this.#armed = false;
      this.#reads.add(queryId);
    }
    return node;
  }

  async transformResult({ result, queryId }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (this.#reads.delete(queryId)) await this.between();
    return result;
  }
}

for (const { style, engine, name } of matrix()) {
  describe(`TOTP second factor (${name})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style, engine, env: { LATCHKEY_KEY_ENCRYPTION_SECRET: ENCRYPTION_SECRET } });
    });
    after(() => server.close());

    /** Creates a user with confirmed TOTP; its secret and recovery codes. */
    async function enrolled(username: string): Promise<{ secret: string; codes: string[]; userId: number }> {
      const user = await server.createUser(username);
      const { access } = await server.login(username);
      const begin = await server.request('POST', '/api/auth/mfa/totp', { token: access, body: { current_password: PASSWORD } });
      assert.equal(begin.status, 200, begin.text);
      const secret = dataOf(begin, style).secret as string;
      const confirm = await server.request('POST', '/api/auth/mfa/totp/confirm', { token: access, body: { code: totpCode(secret) } });
      assert.equal(confirm.status, 200, confirm.text);
      return { secret, codes: dataOf(confirm, style)[style === 'flat' ? 'recovery_codes' : 'recoveryCodes'], userId: user.id };
    }

    async function mfaToken(username: string): Promise<string> {
      const res = await server.request('POST', '/api/auth/login', { body: { username, password: PASSWORD } });
      assert.equal(res.status, 200, res.text);
      return dataOf(res, style)[style === 'flat' ? 'mfa_token' : 'mfaToken'];
    }

    test('enrolment answers a base32 secret and an otpauth URI, sealed at rest; confirmation answers 10 recovery codes stored hashed', async () => {
      const user = await server.createUser('enrol');
      const { access } = await server.login('enrol');
      const begin = await server.request('POST', '/api/auth/mfa/totp', { token: access, body: { current_password: PASSWORD } });
      assert.equal(begin.status, 200);
      assert.equal(begin.headers.get('cache-control'), 'no-store');
      const data = dataOf(begin, style);
      assert.deepEqual(Object.keys(data), style === 'flat' ? ['secret', 'otpauth_uri'] : ['secret', 'otpauthUri']);
      assert.match(data.secret, /^[A-Z2-7]{32}$/);
      const uri = new URL(style === 'flat' ? data.otpauth_uri : data.otpauthUri);
      assert.equal(uri.protocol, 'otpauth:');
      assert.equal(uri.host, 'totp');
      assert.equal(decodeURIComponent(uri.pathname), '/latchkey:enrol');
      assert.equal(uri.searchParams.get('secret'), data.secret);
      assert.equal(uri.searchParams.get('issuer'), 'latchkey');
      const stored = await server.core.store.db.selectFrom('mfa_totp').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
      assert.ok(stored.secret.startsWith('enc:v1:'), 'the secret is sealed');
      assert.ok(!stored.secret.includes(data.secret));
      assert.equal(stored.confirmed_at, null);

      // Not yet confirmed: login is unchanged.
      const plain = await server.request('POST', '/api/auth/login', { body: { username: 'enrol', password: PASSWORD } });
      assert.ok(tokensOf(plain, style).access);

      const wrong = await server.request('POST', '/api/auth/mfa/totp/confirm', { token: access, body: { code: wrongCode(data.secret) } });
      assert.equal(wrong.status, 401);
      assert.equal(errorOf(wrong, style), style === 'flat' ? 'invalid code' : 'INVALID_CODE');

      const confirm = await server.request('POST', '/api/auth/mfa/totp/confirm', { token: access, body: { code: totpCode(data.secret) } });
      assert.equal(confirm.status, 200);
      const codes = dataOf(confirm, style)[style === 'flat' ? 'recovery_codes' : 'recoveryCodes'] as string[];
      assert.equal(codes.length, 10);
      assert.equal(new Set(codes).size, 10);
      const rows = await server.core.store.db.selectFrom('mfa_recovery_codes').selectAll().where('user_id', '=', user.id).execute();
      assert.equal(rows.length, 10);
      for (const row of rows) assert.ok(!codes.some((c) => row.code_hash.includes(c) || c.includes(row.code_hash)));

      const again = await server.request('POST', '/api/auth/mfa/totp', { token: access, body: { current_password: PASSWORD } });
      assert.equal(again.status, 409);
    });

    test('an enrolment restarted between reading its secret and accepting a code is never confirmed with the new secret', async () => {
      const user = await server.createUser('restarted');
      const { totp, recoveryCodes } = server.core.mfa;
      const first = await totp.begin(user);
      let second: { secret: string } | undefined;
      // The restart comes from another connection, as from another request (the server's own connection is
      // still held while the read's rows are handed back).
      const elsewhere = await openStore(server.database.url);
      const restart = new TotpFactor(elsewhere.db, server.core.config, recoveryCodes, server.core.audit);
      const racing = new TotpFactor(
        server.core.store.db.withPlugin(new AfterFirstRead('mfa_totp', async () => (second = await restart.begin(user)))),
        server.core.config,
        recoveryCodes,
        server.core.audit,
      );
      try {
        await assert.rejects(racing.confirm(user.id, totpCode(first.secret)), InvalidCode);
      } finally {
        await elsewhere.close();
      }
      assert.ok(second, 'the enrolment restarted in between');
      assert.equal(await totp.enabled(user.id), false);
      // Still pending, with the secret the app was shown last: its code confirms it, and it works after.
      assert.equal((await totp.confirm(user.id, totpCode(second.secret))).length, 10);
      assert.equal(await totp.check(user.id, totpCode(second.secret, 1)), true);
    });

    test('enrolment needs the current password', async () => {
      await server.createUser('nopass');
      const { access } = await server.login('nopass');
      const res = await server.request('POST', '/api/auth/mfa/totp', { token: access, body: { current_password: 'not the password' } });
      assert.equal(res.status, 403);
      const missing = await server.request('POST', '/api/auth/mfa/totp', { token: access, body: {} });
      assert.equal(missing.status, 400);
      const anonymous = await server.request('POST', '/api/auth/mfa/totp', { body: { current_password: PASSWORD } });
      assert.equal(anonymous.status, 401);
    });

    test('a right password answers mfa_required with an mfa_token and no tokens or cookie; a code finishes with the login body', async () => {
      const { secret } = await enrolled('two');
      const res = await server.request('POST', '/api/auth/login', { body: { username: 'two', password: PASSWORD } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('set-cookie'), null);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const data = dataOf(res, style);
      if (style === 'flat') {
        assert.deepEqual(Object.keys(res.body), ['mfa_required', 'mfa_token', 'methods']);
        assert.equal(res.body.mfa_required, true);
      } else {
        assert.deepEqual(Object.keys(res.body), ['data', 'error', 'meta']);
        assert.deepEqual(Object.keys(data), ['mfaRequired', 'mfaToken', 'methods']);
        assert.equal(data.mfaRequired, true);
      }
      assert.deepEqual(data.methods, ['totp', 'recovery_code']);
      const token = style === 'flat' ? data.mfa_token : data.mfaToken;
      const before = Math.floor(Date.now() / 1000);
      // The next step's code: the current one was spent by the enrolment's confirmation.
      const code = totpCode(secret, 1);
      const verify = await server.request('POST', '/api/auth/mfa/verify', {
        body: style === 'flat' ? { mfa_token: token, code } : { mfaToken: token, code },
      });
      assert.equal(verify.status, 200, verify.text);
      assert.match(verify.headers.get('set-cookie') ?? '', /^latchkey_refresh=/);
      const { access, refresh } = tokensOf(verify, style);
      const claims = claimsOf(access);
      assert.deepEqual(claims.amr, ['pwd', 'otp']);
      assert.ok(claims.auth_time >= before - 1 && claims.auth_time <= claims.iat);

      // The mfa_token was spent by its success.
      const reuse = await server.request('POST', '/api/auth/mfa/verify', { body: { mfa_token: token, code: totpCode(secret, 1) } });
      assert.equal(reuse.status, 401);
      assert.equal(errorOf(reuse, style), style === 'flat' ? 'invalid or expired token' : 'INVALID_TOKEN');
      assert.equal(reuse.headers.get('www-authenticate'), 'Bearer');

      // Refresh keeps amr and auth_time.
      const refreshed = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: refresh } });
      assert.equal(refreshed.status, 200);
      const next = claimsOf(tokensOf(refreshed, style).access);
      assert.deepEqual(next.amr, ['pwd', 'otp']);
      assert.equal(next.auth_time, claims.auth_time);
    });

    test('an accepted code is refused when presented again', async () => {
      const { secret } = await enrolled('replay');
      const code = totpCode(secret, 1);
      const first = await server.request('POST', '/api/auth/mfa/verify', { body: { mfa_token: await mfaToken('replay'), code } });
      assert.equal(first.status, 200, first.text);
      const second = await server.request('POST', '/api/auth/mfa/verify', { body: { mfa_token: await mfaToken('replay'), code } });
      assert.equal(second.status, 401);
      assert.equal(errorOf(second, style), style === 'flat' ? 'invalid code' : 'INVALID_CODE');
    });

    test('five wrong codes kill the mfa_token: even the right code is refused after them', async () => {
      const { secret } = await enrolled('guesser');
      const token = await mfaToken('guesser');
      for (let i = 0; i < 5; i++) {
        const res = await server.request('POST', '/api/auth/mfa/verify', { body: { mfa_token: token, code: wrongCode(secret) } });
        assert.equal(res.status, 401);
        assert.equal(errorOf(res, style), style === 'flat' ? 'invalid code' : 'INVALID_CODE');
      }
      const right = await server.request('POST', '/api/auth/mfa/verify', { body: { mfa_token: token, code: totpCode(secret) } });
      assert.equal(right.status, 401);
      assert.equal(errorOf(right, style), style === 'flat' ? 'invalid or expired token' : 'INVALID_TOKEN');
      const user = await server.core.users.getByUsername('guesser');
      const failed = await server.core.store.db
        .selectFrom('audit_events')
        .select('id')
        .where('type', '=', 'mfa_failed')
        .where('user_id', '=', user.id)
        .execute();
      assert.equal(failed.length, 5);
    });

    test('a password reset between the two steps kills the mfa_token: the old password cannot finish a sign-in', async () => {
      const { secret, userId } = await enrolled('halfway');
      const token = await mfaToken('halfway');
      await server.core.accounts.resetPassword(userId, 'an-entirely-new-passphrase-9');
      const late = await server.request('POST', '/api/auth/mfa/verify', { body: { mfa_token: token, code: totpCode(secret) } });
      assert.equal(late.status, 401, late.text);
      assert.equal(errorOf(late, style), style === 'flat' ? 'invalid or expired token' : 'INVALID_TOKEN');
    });

    test('a recovery code works once', async () => {
      const { codes } = await enrolled('recover');
      const code = codes[3]!;
      const first = await server.request('POST', '/api/auth/mfa/verify', {
        body: { mfa_token: await mfaToken('recover'), recovery_code: code.toUpperCase() },
      });
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(claimsOf(tokensOf(first, style).access).amr, ['pwd', 'otp']);
      const second = await server.request('POST', '/api/auth/mfa/verify', {
        body: { mfa_token: await mfaToken('recover'), recoveryCode: code },
      });
      assert.equal(second.status, 401);
      assert.equal(errorOf(second, style), style === 'flat' ? 'invalid code' : 'INVALID_CODE');
      const user = await server.core.users.getByUsername('recover');
      const used = await server.core.store.db
        .selectFrom('audit_events')
        .select('details')
        .where('type', '=', 'recovery_code_used')
        .where('user_id', '=', user.id)
        .execute();
      assert.deepEqual(
        used.map((e) => JSON.parse(e.details ?? '{}')),
        [{ remaining: 9 }],
      );
    });

    test('an unknown mfa_token and a malformed verify body are refused', async () => {
      const unknown = await server.request('POST', '/api/auth/mfa/verify', { body: { mfa_token: 'nope', code: '123456' } });
      assert.equal(unknown.status, 401);
      assert.equal(errorOf(unknown, style), style === 'flat' ? 'invalid or expired token' : 'INVALID_TOKEN');
      const noCode = await server.request('POST', '/api/auth/mfa/verify', { body: { mfa_token: 'x' } });
      assert.equal(noCode.status, 400);
    });

    test('a session from before migration 0007 (no amr, no auth_time) refreshes with its login time and no amr', async () => {
      await server.createUser('older');
      const { refresh } = await server.login('older');
      const sid = claimsOf(refresh).sid as string;
      // Exactly what migration 0007 leaves on sessions that existed before it: the new columns are null.
      await server.core.store.db.updateTable('sessions').set({ amr: null, auth_time: null }).where('id', '=', sid).execute();
      const session = await server.core.store.db
        .selectFrom('sessions')
        .select('created_at')
        .where('id', '=', sid)
        .executeTakeFirstOrThrow();
      const res = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: refresh } });
      assert.equal(res.status, 200);
      const claims = claimsOf(tokensOf(res, style).access);
      assert.equal(claims.amr, undefined);
      assert.equal(claims.auth_time, Math.floor(session.created_at / 1000));
    });

    test('one code presented concurrently on several mfa_tokens is accepted exactly once', async () => {
      const { secret } = await enrolled('racer');
      const tokens = await Promise.all(Array.from({ length: 5 }, () => mfaToken('racer')));
      const code = totpCode(secret, 1);
      const results = await Promise.all(
        tokens.map((t) => server.request('POST', '/api/auth/mfa/verify', { body: { mfa_token: t, code } })),
      );
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 401, 401, 401, 401]);
    });

    test('new recovery codes kill the old set; TOTP is removed with the current password; both audited', async () => {
      const { secret, codes, userId } = await enrolled('manage');
      const { access } = tokensOf(
        await server.request('POST', '/api/auth/mfa/verify', { body: { mfa_token: await mfaToken('manage'), code: totpCode(secret, 1) } }),
        style,
      );
      const wrong = await server.request('POST', '/api/auth/mfa/recovery-codes', { token: access, body: { code: wrongCode(secret) } });
      assert.equal(wrong.status, 401);
      const renewed = await server.request('POST', '/api/auth/mfa/recovery-codes', { token: access, body: { code: totpCode(secret, -1) } });
      assert.equal(renewed.status, 401, 'an older step than the last accepted one is refused');
      const later = Date.now() + 3 * 30_000;
      const fresh = await server.core.mfa.totp.newRecoveryCodes(
        userId,
        () => server.core.mfa.secondStep.checkCode(userId, totpAt(base32Decode(secret), later), {}, later),
        later,
      );
      assert.equal(fresh.length, 10);
      const old = await server.request('POST', '/api/auth/mfa/verify', {
        body: { mfa_token: await mfaToken('manage'), recovery_code: codes[0] },
      });
      assert.equal(old.status, 401);
      const newer = await server.request('POST', '/api/auth/mfa/verify', {
        body: { mfa_token: await mfaToken('manage'), recovery_code: fresh[0] },
      });
      assert.equal(newer.status, 200);

      assert.equal(
        (await server.request('DELETE', '/api/auth/mfa/totp', { token: access, body: { current_password: 'wrong password' } })).status,
        403,
      );
      assert.equal(
        (await server.request('DELETE', '/api/auth/mfa/totp', { token: access, body: { current_password: PASSWORD } })).status,
        204,
      );
      const plain = await server.request('POST', '/api/auth/login', { body: { username: 'manage', password: PASSWORD } });
      assert.deepEqual(claimsOf(tokensOf(plain, style).access).amr, ['pwd']);
      assert.equal(
        await server.core.store.db.selectFrom('mfa_recovery_codes').select('user_id').where('user_id', '=', userId).executeTakeFirst(),
        undefined,
      );
      const events = await server.core.store.db
        .selectFrom('audit_events')
        .select('type')
        .where('user_id', '=', userId)
        .where('type', 'like', 'mfa_%')
        .orderBy('id')
        .execute();
      // The failures: the wrong code and the older step at /mfa/recovery-codes, then the refused old recovery code.
      assert.deepEqual(
        events.map((e) => e.type),
        ['mfa_enabled', 'mfa_failed', 'mfa_failed', 'mfa_failed', 'mfa_disabled'],
      );
    });

    test('TOTP is removed with a current code instead of the password; a wrong code is refused', async () => {
      const { secret, userId } = await enrolled('bycode');
      const session = await server.core.sessions.start(await server.core.users.getById(userId), {}, Date.now(), {
        proof: { amr: ['pwd', 'otp'] },
      });
      const wrong = await server.request('DELETE', '/api/auth/mfa/totp', { token: session.accessToken, body: { code: wrongCode(secret) } });
      assert.equal(wrong.status, 401);
      assert.equal(errorOf(wrong, style), style === 'flat' ? 'invalid code' : 'INVALID_CODE');
      const removed = await server.request('DELETE', '/api/auth/mfa/totp', {
        token: session.accessToken,
        body: { code: totpCode(secret, 1) },
      });
      assert.equal(removed.status, 204);
      assert.equal(await server.core.mfa.totp.enabled(userId), false);
    });

    test('an mfa_token lives five minutes', async () => {
      const { secret } = await enrolled('slow');
      const token = await mfaToken('slow');
      const row = await server.core.store.db
        .selectFrom('mfa_challenges')
        .select(['created_at', 'expires_at'])
        .where('kind', '=', 'mfa_token')
        .orderBy('created_at', 'desc')
        .executeTakeFirstOrThrow();
      assert.equal(row.expires_at - row.created_at, 5 * 60_000);
      // A pinned clock just past the end: the outcome never depends on how long the test takes.
      const late = row.expires_at;
      await assert.rejects(
        server.core.mfa.secondStep.verify({ mfaToken: token, code: totpAt(base32Decode(secret), late) }, {}, late),
        (error: unknown) => error instanceof InvalidMfaToken,
      );
      const inTime = await server.core.mfa.secondStep.verify(
        { mfaToken: token, code: totpAt(base32Decode(secret), late - 1) },
        {},
        late - 1,
      );
      assert.deepEqual(claimsOf(inTime.accessToken).amr, ['pwd', 'otp']);
    });

    test('confirming with nothing pending and new recovery codes without TOTP answer 409', async () => {
      await server.createUser('nothing');
      const { access } = await server.login('nothing');
      const confirm = await server.request('POST', '/api/auth/mfa/totp/confirm', { token: access, body: { code: '123456' } });
      assert.equal(confirm.status, 409);
      assert.equal(errorOf(confirm, style), style === 'flat' ? 'no TOTP enrolment is pending' : 'CONFLICT');
      assert.equal((await server.request('POST', '/api/auth/mfa/recovery-codes', { token: access, body: { code: '123456' } })).status, 409);
      assert.equal((await server.request('POST', '/api/auth/mfa/totp/confirm', { token: access, body: {} })).status, 400);
      assert.equal((await server.request('POST', '/api/auth/mfa/totp/confirm', { body: { code: '123456' } })).status, 401);
    });

    test('one step of drift either way is accepted, two are refused', async () => {
      const { totp } = server.core.mfa;
      // A pinned clock an hour ahead (past the step accepted at enrolment): the outcome depends on the step
      // offset alone, never on when the test runs.
      const at = Date.now() + 3600_000;
      for (const [offset, accepted] of [
        [-2, false],
        [-1, true],
        [1, true],
        [2, false],
      ] as const) {
        const { secret, userId } = await enrolled(`drift${offset + 2}`);
        assert.equal(await totp.check(userId, totpAt(base32Decode(secret), at + offset * 30_000), at), accepted, `offset ${offset}`);
      }
    });
  });
}
