import assert from 'node:assert/strict';
import http from 'node:http';
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { rotateSigningKeys } from '../src/auth/keys.ts';
import { parseConfig } from '../src/config.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { type TestServer, claimsOf, headerOf, matrix, startTestServer, tokensOf, TEST_ARGON2 } from './support/server.ts';
import { type CliResult, runCli } from './support/cli.ts';
import { waitUntil } from './support/wait.ts';

const ROOT_PASSWORD = 'root-password-for-tests';

/** Runs the `latchkey` command in-process with only the given environment (and no .env file). */
function latchkey(args: string[], env: Record<string, string>): Promise<CliResult> {
  return runCli(args, { env });
}

interface Jwk {
  readonly kid: string;
  readonly [member: string]: unknown;
}

/** Checks a JWT's signature against a JWK Set with node:crypto alone: an independent check of the JWKS. */
function verifiesAgainst(token: string, jwks: { keys: Jwk[] }): boolean {
  const [header, payload, signature] = token.split('.');
  const { kid, alg } = headerOf(token);
  const jwk = jwks.keys.find((k) => k.kid === kid);
  if (jwk === undefined || header === undefined || payload === undefined || signature === undefined) return false;
  assert.equal(jwk.alg, alg);
  const key = createPublicKey({ key: jwk as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
  const data = Buffer.from(`${header}.${payload}`);
  const sig = Buffer.from(signature, 'base64url');
  if (alg === 'EdDSA') return verifySignature(null, data, key, sig);
  // JWS ES256 signatures are r||s (RFC 7518 §3.4), not DER.
  if (alg === 'ES256') return verifySignature('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  if (alg === 'RS256') return verifySignature('sha256', data, key, sig);
  return false;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

const ASYMMETRIC_ENV = {
  LATCHKEY_JWT_ALG: 'EdDSA',
  // Unset the test suite's HS256 secret: keys are generated and kept in the database.
  LATCHKEY_JWT_SECRET: '',
  LATCHKEY_KEY_ENCRYPTION_SECRET: 'a key-encryption secret for the tests',
  LATCHKEY_ACCESS_TTL: '15m',
  LATCHKEY_REFRESH_TTL: '1h',
  LATCHKEY_SESSION_MAX_AGE: '30m',
};

for (const { style, engine, name } of matrix()) {
  describe(`signing keys and JWKS (${name})`, () => {
    let server: TestServer;
    const jwks = async () => (await server.request('GET', '/.well-known/jwks.json')).body as { keys: Jwk[] };

    before(async () => {
      server = await startTestServer({ style, engine, env: ASYMMETRIC_ENV });
    });
    after(() => server.close());

    test('the JWKS holds only the public part of the signing key, unwrapped, cacheable', async () => {
      const res = await server.request('GET', '/.well-known/jwks.json');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal(res.headers.get('cache-control'), 'public, max-age=300');
      assert.deepEqual(Object.keys(res.body), ['keys']);
      const [key] = res.body.keys;
      assert.equal(res.body.keys.length, 1);
      assert.deepEqual(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      assert.deepEqual([key.kty, key.crv, key.alg, key.use], ['OKP', 'Ed25519', 'EdDSA', 'sig']);
      for (const member of PRIVATE_MEMBERS) assert.equal(key[member], undefined);
      const { access } = await server.login('root', ROOT_PASSWORD);
      assert.deepEqual(headerOf(access), { alg: 'EdDSA', typ: 'JWT', kid: key.kid });
    });

    test('a token verifies against the served JWKS with node:crypto alone; a tampered one does not', async () => {
      const { access, refresh } = await server.login('root', ROOT_PASSWORD);
      const set = await jwks();
      assert.equal(verifiesAgainst(access, set), true);
      assert.equal(verifiesAgainst(refresh, set), true);
      const [h, , s] = access.split('.');
      const forged = Buffer.from(JSON.stringify({ ...claimsOf(access), role: 'ADMIN', username: 'mallory' })).toString('base64url');
      assert.equal(verifiesAgainst(`${h}.${forged}.${s}`, set), false);
    });

    test('private keys are stored encrypted (LATCHKEY_KEY_ENCRYPTION_SECRET)', async () => {
      const rows = await server.core.store.db.selectFrom('signing_keys').select(['secret', 'public_jwk']).execute();
      assert.ok(rows.length >= 1);
      for (const row of rows) {
        assert.match(row.secret, /^enc:v1:/);
        assert.doesNotMatch(row.secret, /PRIVATE KEY/);
        for (const member of PRIVATE_MEMBERS) assert.equal(JSON.parse(row.public_jwk ?? '{}')[member], undefined);
      }
    });

    test('openid-configuration names the issuer and the jwks_uri, unwrapped', async () => {
      const res = await server.request('GET', '/.well-known/openid-configuration');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'public, max-age=300');
      assert.equal(res.body.issuer, 'latchkey');
      assert.equal(res.body.jwks_uri, `${server.core.config.publicUrl}/.well-known/jwks.json`);
      assert.deepEqual(res.body.id_token_signing_alg_values_supported, ['EdDSA']);
      assert.equal(res.body.data, undefined);
    });

    test('keys rotate --now: the new key signs, tokens of the old one verify until they expire, then it leaves the JWKS', async () => {
      const before = await server.login('root', ROOT_PASSWORD);
      const oldKid = headerOf(before.access).kid;

      const rotated = await latchkey(['keys', 'rotate', '--now'], { ...ASYMMETRIC_ENV, DATABASE_URL: server.database.url });
      assert.equal(rotated.code, 0, rotated.stderr);
      const newKid = /new EdDSA signing key (\S+);/.exec(rotated.stdout)?.[1];
      assert.ok(newKid, rotated.stdout);
      assert.match(rotated.stdout, new RegExp(`retired ${oldKid}: they verify until \\d{4}-`));

      // The retired key verifies for the longest token lifetime (access 15m; refresh 1h capped by the
      // 30m session), plus the 60 s other instances may still sign with it, plus 30 s of clock skew.
      const row = await server.core.store.db.selectFrom('signing_keys').selectAll().where('kid', '=', oldKid).executeTakeFirstOrThrow();
      assert.equal(row.expires_at, (row.retired_at ?? 0) + 60_000 + 30 * 60_000 + 30_000);

      // A running server picks the rotation up on its next key reload (every 30 s; here at once).
      assert.equal(await server.core.reloadKeys(), true);
      assert.deepEqual((await jwks()).keys.map((k) => k.kid).sort(), [newKid, oldKid].sort());
      const afterRotation = await server.login('root', ROOT_PASSWORD);
      assert.equal(headerOf(afterRotation.access).kid, newKid);
      assert.equal(verifiesAgainst(afterRotation.access, await jwks()), true);
      // Tokens signed before the rotation keep working: the access token, and the refresh token, whose
      // successor is signed by the new key.
      assert.equal((await server.request('GET', '/api/auth/me', { token: before.access })).status, 200);
      const refreshed = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: before.refresh } });
      assert.equal(refreshed.status, 200);
      assert.equal(headerOf(tokensOf(refreshed, style).access).kid, newKid);

      const audit = await server.request('GET', '/api/admin/audit?type=key_rotated', { token: afterRotation.access });
      const [event] = style === 'flat' ? audit.body.items : audit.body.data;
      assert.deepEqual(event.details, { kid: newKid, alg: 'EdDSA', retired: oldKid, removed: 0 });
      assert.equal(style === 'flat' ? event.actor_user_id : event.actorUserId, null);

      if (style === 'flat' && engine === 'sqlite') {
        const listed = await latchkey(['keys', 'list'], { ...ASYMMETRIC_ENV, DATABASE_URL: server.database.url });
        assert.equal(listed.code, 0, listed.stderr);
        const lines = listed.stdout.trim().split('\n');
        assert.match(lines[0] ?? '', new RegExp(`^${newKid}\\tEdDSA\\tsigning\\t`));
        assert.match(lines[1] ?? '', new RegExp(`^${oldKid}\\tEdDSA\\tverifying until ${new Date(row.expires_at ?? 0).toISOString()}\\t`));
      }

      // Once every token the old key signed has expired, it is gone: from the JWKS and from verification.
      assert.equal(await server.core.reloadKeys((row.expires_at ?? 0) + 1), true);
      assert.deepEqual(
        (await jwks()).keys.map((k) => k.kid),
        [newKid],
      );
      assert.equal((await server.request('GET', '/api/auth/me', { token: before.access })).status, 401);
      assert.equal((await server.request('GET', '/api/auth/me', { token: afterRotation.access })).status, 200);
      // The next rotation deletes the expired key, private part and all.
      const next = await rotateSigningKeys(server.core.store.db, server.core.config, (row.expires_at ?? 0) + 1);
      assert.equal(next.removed, 1);
      assert.equal(
        await server.core.store.db.selectFrom('signing_keys').select('kid').where('kid', '=', oldKid).executeTakeFirst(),
        undefined,
      );
    });

    test('a retired key vouches for access tokens one access lifetime after its retirement, for refresh tokens longer', async () => {
      const before = await server.login('root', ROOT_PASSWORD);
      const oldKid = headerOf(before.access).kid;
      const rotation = await rotateSigningKeys(server.core.store.db, server.core.config, Date.now(), { immediately: true });
      assert.ok(rotation.retired.includes(oldKid), rotation.retired.join());
      assert.equal(await server.core.reloadKeys(), true);
      assert.equal((await server.request('GET', '/api/auth/me', { token: before.access })).status, 200);
      assert.ok((await jwks()).keys.some((k) => k.kid === oldKid));

      // As if the rotation (a leaked key: `--now`) was an access lifetime, the pickup minute and the skew ago. An
      // access token under the old key, which anyone holding that key could mint with any exp, is refused, and
      // the key leaves the JWKS; the old session's refresh token still refreshes (it is checked against the database).
      const cutoff = 60_000 + server.core.config.accessTtlMs + 30_000;
      await server.core.store.db
        .updateTable('signing_keys')
        .set((eb) => ({ retired_at: eb('retired_at', '-', cutoff + 1000) }))
        .where('kid', '=', oldKid)
        .execute();
      assert.equal(await server.core.reloadKeys(), true);
      const refused = await server.request('GET', '/api/auth/me', { token: before.access });
      assert.equal(refused.status, 401);
      assert.equal((await server.request('GET', '/api/auth/verify', { token: before.access })).status, 401);
      assert.ok(!(await jwks()).keys.some((k) => k.kid === oldKid));
      const refreshed = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: before.refresh } });
      assert.equal(refreshed.status, 200, refreshed.text);
      assert.equal(headerOf(tokensOf(refreshed, style).access).kid, rotation.kid);
    });

    test('keys rotate publishes the new key in the JWKS LATCHKEY_KEY_PUBLISH_DELAY (default 5m) before it signs', async (t) => {
      // A server of its own: the test above rotated keys at instants in the future.
      const server = await startTestServer({ style, engine, env: ASYMMETRIC_ENV });
      t.after(() => server.close());
      const jwks = async () => (await server.request('GET', '/.well-known/jwks.json')).body as { keys: Jwk[] };
      const signing = async () => headerOf((await server.login('root', ROOT_PASSWORD)).access).kid as string;
      const oldKid = await signing();
      const rotated = await latchkey(['keys', 'rotate'], { ...ASYMMETRIC_ENV, DATABASE_URL: server.database.url });
      assert.equal(rotated.code, 0, rotated.stderr);
      const match = /new EdDSA signing key (\S+); published now, signing from (\S+) \(LATCHKEY_KEY_PUBLISH_DELAY\)/.exec(rotated.stdout);
      assert.ok(match?.[1] !== undefined && match[2] !== undefined, rotated.stdout);
      const newKid = match[1];
      const signsFrom = Date.parse(match[2]);
      const row = await server.core.store.db.selectFrom('signing_keys').selectAll().where('kid', '=', oldKid).executeTakeFirstOrThrow();
      assert.equal(row.retired_at, signsFrom);
      assert.ok(signsFrom - Date.now() > 4 * 60_000);

      // Published at the next key reload, while the old key still signs: a verifier caching the JWKS
      // (jose's remote set, a CDN) learns the new key before any token carries it.
      await server.core.reloadKeys();
      assert.deepEqual((await jwks()).keys.map((k) => k.kid).sort(), [newKid, oldKid].sort());
      assert.equal(await signing(), oldKid);
      if (style === 'flat' && engine === 'sqlite') {
        const listed = await latchkey(['keys', 'list'], { ...ASYMMETRIC_ENV, DATABASE_URL: server.database.url });
        const lines = listed.stdout.trim().split('\n');
        assert.match(lines[0] ?? '', new RegExp(`^${newKid}\\tEdDSA\\tpublished\\t`));
        assert.match(lines[1] ?? '', new RegExp(`^${oldKid}\\tEdDSA\\tsigning until ${new Date(signsFrom).toISOString()}\\t`));
      }
      // From the announced moment (instances re-read keys every 30 s) the new key signs; the old one verifies on.
      assert.equal(await server.core.reloadKeys(signsFrom), true);
      assert.equal(await signing(), newKid);
      assert.deepEqual((await jwks()).keys.map((k) => k.kid).sort(), [newKid, oldKid].sort());

      // keys rotate --now (a compromised key) skips the wait, also for a key that was still waiting to retire.
      const urgent = await latchkey(['keys', 'rotate', '--now'], { ...ASYMMETRIC_ENV, DATABASE_URL: server.database.url });
      assert.equal(urgent.code, 0, urgent.stderr);
      const urgentKid = /new EdDSA signing key (\S+); running servers switch to it within 60 s/.exec(urgent.stdout)?.[1];
      assert.ok(urgentKid, urgent.stdout);
      await server.core.reloadKeys();
      assert.equal(await signing(), urgentKid);
    });

    test('with a short LATCHKEY_KEY_PUBLISH_DELAY, the first key reload after the delay switches a running server to the new key', async () => {
      const fresh = await startTestServer({ style, engine, env: { ...ASYMMETRIC_ENV, LATCHKEY_KEY_PUBLISH_DELAY: '1s' } });
      const other = fresh.server;
      try {
        const rotation = await rotateSigningKeys(other.core.store.db, other.core.config);
        assert.ok(rotation.signsFrom > Date.now() - 1000 && rotation.signsFrom - Date.now() <= 1000);
        await other.core.reloadKeys();
        assert.ok(other.core.tokens.keyRing.keys.has(rotation.kid));
        // What the periodic reload (every 30 s) does, done here until the delay has passed, rather than waiting 30 s.
        await waitUntil(
          'the reload switches to the new key',
          async () => {
            await other.core.reloadKeys();
            return other.core.tokens.keyRing.current.kid === rotation.kid;
          },
          { intervalMs: 100 },
        );
        const login = await fetch(`${other.url}/api/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'root', password: ROOT_PASSWORD }),
        });
        const body = (await login.json()) as Record<string, any>;
        assert.equal(headerOf(style === 'flat' ? body.token : body.data.token).kid, rotation.kid);
        assert.ok(Date.now() >= rotation.signsFrom);
      } finally {
        await fresh.close();
      }
    });

    test('another instance accepts a token signed by a key it has not loaded yet', async () => {
      const other: RunningServer = await startServer(
        parseConfig({
          ...ASYMMETRIC_ENV,
          PORT: '0',
          DATABASE_URL: server.database.url,
          LATCHKEY_API_STYLE: style,
          LATCHKEY_LIMITS: 'off',
          LOG_LEVEL: 'silent',
        }),
        { logger: false, argon2Cost: TEST_ARGON2 },
      );
      try {
        const rotation = await rotateSigningKeys(server.core.store.db, server.core.config, Date.now(), { immediately: true });
        await server.core.reloadKeys();
        const { access } = await server.login('root', ROOT_PASSWORD);
        assert.equal(headerOf(access).kid, rotation.kid);
        // The other instance re-reads its keys when it meets the unknown kid, instead of waiting 30 s.
        let status = 0;
        await waitUntil(
          'the other instance accepts the new key',
          async () => {
            status = (await fetch(`${other.url}/api/auth/me`, { headers: { authorization: `Bearer ${access}` } })).status;
            return status === 200;
          },
          { timeoutMs: 2000, intervalMs: 20 },
        ).catch(() => undefined);
        assert.equal(status, 200);
        assert.equal(other.core.tokens.keyRing.current.kid, rotation.kid);
      } finally {
        await other.close();
      }
    });
  });
}

describe('discovery document', () => {
  test('jwks_uri comes from LATCHKEY_PUBLIC_URL, whatever Host or X-Forwarded-Host say', async () => {
    for (const trust of ['false', 'true']) {
      const server = await startTestServer({
        env: { ...ASYMMETRIC_ENV, LATCHKEY_PUBLIC_URL: 'https://auth.example.com/id', LATCHKEY_TRUST_PROXY: trust },
      });
      try {
        const headerSets: Record<string, string>[] = [
          {},
          { host: 'evil.example' },
          { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' },
        ];
        for (const headers of headerSets) {
          // node:http, not fetch: fetch does not let a caller set Host.
          const body = await new Promise<string>((resolve, reject) => {
            http
              .get(`${server.url}/.well-known/openid-configuration`, { headers }, (res) => {
                let text = '';
                res.on('data', (chunk: Buffer) => (text += chunk.toString()));
                res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`status ${res.statusCode}`))));
              })
              .on('error', reject);
          });
          assert.equal(JSON.parse(body).jwks_uri, 'https://auth.example.com/id/.well-known/jwks.json', JSON.stringify({ trust, headers }));
        }
      } finally {
        await server.close();
      }
    }
  });
});

describe('other signing algorithms', () => {
  for (const [alg, kty, members] of [
    ['ES256', 'EC', ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']],
    ['RS256', 'RSA', ['alg', 'e', 'kid', 'kty', 'n', 'use']],
  ] as const) {
    test(`${alg}: the JWKS holds the public key only, and tokens verify against it with node:crypto`, async () => {
      const server = await startTestServer({ env: { LATCHKEY_JWT_ALG: alg, LATCHKEY_JWT_SECRET: '' } });
      try {
        const res = await server.request('GET', '/.well-known/jwks.json');
        const [key] = res.body.keys;
        assert.equal(res.body.keys.length, 1);
        assert.deepEqual(Object.keys(key).sort(), members);
        assert.equal(key.kty, kty);
        const { access } = await server.login('root', ROOT_PASSWORD);
        assert.deepEqual(headerOf(access), { alg, typ: 'JWT', kid: key.kid });
        assert.equal(verifiesAgainst(access, res.body), true);
        // Without an encryption secret the private key is stored as PEM; it still never leaves the database.
        assert.doesNotMatch(res.text, /PRIVATE/);
      } finally {
        await server.close();
      }
    });
  }

  test('HS256 keys kept in the database rotate too, and never appear in the JWKS', async () => {
    const server = await startTestServer({ env: { LATCHKEY_JWT_SECRET: '' } });
    try {
      const before = await server.login('root', ROOT_PASSWORD);
      const rotation = await rotateSigningKeys(server.core.store.db, server.core.config);
      assert.deepEqual(rotation.retired, [headerOf(before.access).kid]);
      await server.core.reloadKeys();
      const after = await server.login('root', ROOT_PASSWORD);
      assert.equal(headerOf(after.access).kid, rotation.kid);
      for (const token of [before.access, after.access]) assert.equal((await server.request('GET', '/api/auth/me', { token })).status, 200);
      assert.deepEqual((await server.request('GET', '/.well-known/jwks.json')).body, { keys: [] });
    } finally {
      await server.close();
    }
  });

  test('with a configured LATCHKEY_JWT_SECRET, keys rotate refuses with exit 2 and says how to rotate', async () => {
    const server = await startTestServer();
    try {
      const res = await latchkey(['keys', 'rotate'], {
        DATABASE_URL: server.database.url,
        LATCHKEY_JWT_SECRET: 'another-test-secret-of-at-least-32-bytes',
      });
      assert.equal(res.code, 2);
      assert.match(res.stderr, /^latchkey: LATCHKEY_JWT_SECRET: is a fixed HS256 key .*changing the secret/);
      assert.equal(res.stdout, '');
      assert.deepEqual((await server.request('GET', '/.well-known/jwks.json')).body, { keys: [] });
      assert.equal((await server.core.audit.list({ type: 'key_rotated' })).total, 0);
    } finally {
      await server.close();
    }
  });
});
