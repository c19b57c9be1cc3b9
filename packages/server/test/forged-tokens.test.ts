import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, type KeyObject, sign as cryptoSign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  type HttpResult,
  type Style,
  TEST_SECRET,
  type TestServer,
  claimsOf,
  headerOf,
  matrix,
  startTestServer,
} from './support/server.ts';

type Json = Record<string, unknown>;
type Signer = (input: string) => string;

const b64 = (value: Json) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT with exactly this header and payload, signed by `signer` (or unsigned). */
function forge(header: Json, payload: Json, signer: Signer = () => ''): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signer(input)}`;
}

const hmac =
  (key: string | Buffer): Signer =>
  (input) =>
    createHmac('sha256', key).update(input).digest('base64url');
const rs256 =
  (privateKey: KeyObject): Signer =>
  (input) =>
    cryptoSign('sha256', Buffer.from(input), privateKey).toString('base64url');
const eddsa =
  (privateKey: KeyObject): Signer =>
  (input) =>
    cryptoSign(null, Buffer.from(input), privateKey).toString('base64url');

const now = () => Math.floor(Date.now() / 1000);
const PROTECTED = ['/api/auth/verify', '/api/auth/me'] as const;

function assertRefusedToken(res: HttpResult, style: Style, context: string): void {
  const where = `${context}: ${res.status} ${res.text.slice(0, 200)}`;
  assert.equal(res.status, 401, where);
  assert.equal(res.headers.get('www-authenticate'), 'Bearer', where);
  if (style === 'flat') assert.deepEqual(res.body, { error: 'invalid or expired token' }, where);
  else {
    assert.deepEqual(res.body.error, { code: 'UNAUTHORIZED', message: 'Invalid or expired token' }, where);
    assert.equal(res.body.data, null, where);
  }
}

/** Both of Latchkey's own token-checking endpoints refuse `token` with the invalid-token 401. */
async function assertRefused(server: TestServer, style: Style, token: string, context: string): Promise<void> {
  for (const path of PROTECTED) assertRefusedToken(await server.request('GET', path, { token }), style, `${context} on ${path}`);
}

async function assertAccepted(server: TestServer, token: string, context: string): Promise<void> {
  for (const path of PROTECTED) {
    const res = await server.request('GET', path, { token });
    assert.equal(res.status, 200, `${context} on ${path}: ${res.text.slice(0, 200)}`);
  }
}

for (const { style, engine, name } of matrix()) {
  describe(`forged tokens against HS256 (${name})`, () => {
    let server: TestServer;
    let header: Json;
    let claims: Json;
    let access: string;
    let refresh: string;
    before(async () => {
      server = await startTestServer({ style, engine });
      await server.createUser('ada');
      ({ access, refresh } = await server.login('ada'));
      header = headerOf(access);
      claims = claimsOf(access);
    });
    after(() => server.close());

    /** The real claims with changes; a key set to undefined is dropped. */
    const withClaims = (changes: Json): Json => JSON.parse(JSON.stringify({ ...claims, ...changes }));
    const withHeader = (changes: Json): Json => JSON.parse(JSON.stringify({ ...header, ...changes }));

    test('a token forged with the right secret and the real claims is accepted (the forgeries below are real)', async () => {
      await assertAccepted(server, forge(header, withClaims({ jti: 'control-1' }), hmac(TEST_SECRET)), 'control');
      await assertAccepted(server, access, 'the issued token');
    });

    test('alg "none" is refused, with or without a signature', async () => {
      for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
        await assertRefused(server, style, forge(withHeader({ alg }), claims), `alg ${alg}`);
        await assertRefused(server, style, forge(withHeader({ alg }), claims, hmac(TEST_SECRET)), `alg ${alg} signed`);
      }
      const [h, p] = access.split('.');
      await assertRefused(server, style, `${h}.${p}.`, 'signature stripped');
    });

    test('a token signed with another secret is refused', async () => {
      await assertRefused(server, style, forge(header, claims, hmac('another-secret-that-is-at-least-32-bytes')), 'wrong secret');
      await assertRefused(server, style, forge(header, claims, hmac('')), 'empty secret');
      await assertRefused(server, style, forge(header, claims, hmac(TEST_SECRET.slice(0, -1))), 'secret minus a byte');
    });

    test('an RS256 or EdDSA token is refused when HS256 is configured, whatever its kid', async () => {
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const ed = generateKeyPairSync('ed25519');
      await assertRefused(server, style, forge(withHeader({ alg: 'RS256' }), claims, rs256(rsa.privateKey)), 'RS256 with the real kid');
      await assertRefused(server, style, forge({ alg: 'RS256', typ: 'JWT' }, claims, rs256(rsa.privateKey)), 'RS256 without kid');
      await assertRefused(server, style, forge(withHeader({ alg: 'EdDSA' }), claims, eddsa(ed.privateKey)), 'EdDSA with the real kid');
      // Another HMAC size with the right secret is still not the configured algorithm.
      const hs512: Signer = (input) => createHmac('sha512', TEST_SECRET).update(input).digest('base64url');
      await assertRefused(server, style, forge(withHeader({ alg: 'HS512' }), claims, hs512), 'HS512 with the right secret');
    });

    test('changing a claim while keeping the signature is refused', async () => {
      const [h, , signature] = access.split('.');
      for (const changes of [
        { role: 'ADMIN' },
        { user_id: 1 },
        { username: 'root', sub: 'root' },
        { exp: now() + 365 * 86_400 },
        { sid: 'other-session' },
      ]) {
        await assertRefused(server, style, `${h}.${b64(withClaims(changes))}.${signature}`, `tampered ${JSON.stringify(changes)}`);
      }
      // Re-encoding the header (here: reordering its keys) breaks the signature too.
      const reordered = b64({ typ: header.typ, kid: header.kid, alg: header.alg });
      await assertRefused(server, style, `${reordered}.${access.split('.')[1]}.${signature}`, 'header re-encoded');
    });

    test('a refresh token is refused as an access token, and an access token as a refresh token', async () => {
      await assertRefused(server, style, refresh, 'refresh token as Bearer');
      const res = await server.request('POST', '/api/auth/refresh', { body: { refresh_token: access } });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      if (style === 'flat') assert.deepEqual(res.body, { error: 'failed to refresh access token' });
      else assert.deepEqual(res.body.error, { code: 'INVALID_REFRESH_TOKEN', message: 'Invalid or expired refresh token' });
      // Forged with the right secret, the type claim still decides.
      await assertRefused(server, style, forge(header, withClaims({ token_type: 'refresh' }), hmac(TEST_SECRET)), 'token_type refresh');
      const asRefresh = await server.request('POST', '/api/auth/refresh', {
        body: { refresh_token: forge(header, withClaims({ token_type: 'access' }), hmac(TEST_SECRET)) },
      });
      assert.equal(asRefresh.status, 401);
    });

    test('a token expired more than 30 s ago is refused; one expired less than 30 s ago is accepted (clock skew)', async () => {
      const iat = now() - 3600;
      await assertRefused(
        server,
        style,
        forge(header, withClaims({ iat, exp: now() - 45, jti: 'expired-45' }), hmac(TEST_SECRET)),
        'expired 45 s ago',
      );
      await assertRefused(
        server,
        style,
        forge(header, withClaims({ iat, exp: now() - 3000, jti: 'expired-3000' }), hmac(TEST_SECRET)),
        'expired 50 min ago',
      );
      await assertAccepted(
        server,
        forge(header, withClaims({ iat, exp: now() - 10, jti: 'expired-10' }), hmac(TEST_SECRET)),
        'expired 10 s ago',
      );
    });

    test('a wrong or missing iss is refused', async () => {
      await assertRefused(server, style, forge(header, withClaims({ iss: 'evil' }), hmac(TEST_SECRET)), 'iss evil');
      await assertRefused(server, style, forge(header, withClaims({ iss: 'Latchkey' }), hmac(TEST_SECRET)), 'iss in another case');
      await assertRefused(server, style, forge(header, withClaims({ iss: undefined }), hmac(TEST_SECRET)), 'no iss');
    });

    test('an unknown or missing kid is refused', async () => {
      await assertRefused(server, style, forge(withHeader({ kid: 'no-such-key' }), claims, hmac(TEST_SECRET)), 'unknown kid');
      await assertRefused(server, style, forge(withHeader({ kid: undefined }), claims, hmac(TEST_SECRET)), 'no kid');
      await assertRefused(server, style, forge(withHeader({ kid: 42 }), claims, hmac(TEST_SECRET)), 'numeric kid');
    });

    test('a missing or unknown token_type, or a claim of the wrong type, is refused', async () => {
      await assertRefused(server, style, forge(header, withClaims({ token_type: undefined }), hmac(TEST_SECRET)), 'no token_type');
      await assertRefused(server, style, forge(header, withClaims({ token_type: 'id' }), hmac(TEST_SECRET)), 'token_type id');
      await assertRefused(
        server,
        style,
        forge(header, withClaims({ user_id: String(claims.user_id) }), hmac(TEST_SECRET)),
        'user_id as a string',
      );
      await assertRefused(server, style, forge(header, withClaims({ role: 'SUPERUSER' }), hmac(TEST_SECRET)), 'unknown role');
      await assertRefused(server, style, forge(header, withClaims({ sid: undefined }), hmac(TEST_SECRET)), 'no sid');
      await assertRefused(server, style, forge(header, withClaims({ exp: undefined }), hmac(TEST_SECRET)), 'no exp');
    });

    test('a header typ other than JWT is refused', async () => {
      for (const typ of ['at+jwt', 'JWS', 'JOSE', undefined]) {
        await assertRefused(server, style, forge(withHeader({ typ }), claims, hmac(TEST_SECRET)), `typ ${String(typ)}`);
      }
    });

    test('the Authorization header: missing, malformed, and a case-insensitive Bearer scheme', async () => {
      for (const path of PROTECTED) {
        for (const headers of [{}, { authorization: '' }] as Record<string, string>[]) {
          const res = await server.request('GET', path, { headers });
          assert.equal(res.status, 401);
          assert.equal(res.headers.get('www-authenticate'), 'Bearer');
          if (style === 'flat') assert.deepEqual(res.body, { error: 'missing authorization header' });
          else assert.deepEqual(res.body.error, { code: 'UNAUTHORIZED', message: 'Missing authorization header' });
        }
        for (const authorization of [
          'Basic x',
          'Basic YWRhOnB3',
          'Bearer',
          'Bearer a b',
          `Token ${access}`,
          `Bearer ${access} extra`,
          `Bearer\t${access}`,
          `Bearer${access}`,
        ]) {
          const res = await server.request('GET', path, { headers: { authorization } });
          assert.equal(res.status, 401, authorization);
          assert.equal(res.headers.get('www-authenticate'), 'Bearer');
          if (style === 'flat') assert.deepEqual(res.body, { error: 'invalid authorization header format' }, authorization);
          else assert.deepEqual(res.body.error, { code: 'UNAUTHORIZED', message: 'Invalid authorization header format' }, authorization);
        }
        for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
          const res = await server.request('GET', path, { headers: { authorization: `${scheme} ${access}` } });
          assert.equal(res.status, 200, scheme);
        }
        assertRefusedToken(
          await server.request('GET', path, { headers: { authorization: 'Bearer not-a-jwt' } }),
          style,
          'a Bearer token that is no JWT',
        );
      }
    });
  });

  describe(`forged tokens with LATCHKEY_AUDIENCE (${name})`, () => {
    const AUDIENCE = 'api://orders';
    let server: TestServer;
    let header: Json;
    let claims: Json;
    before(async () => {
      server = await startTestServer({ style, engine, env: { LATCHKEY_AUDIENCE: AUDIENCE } });
      await server.createUser('ada');
      const { access } = await server.login('ada');
      header = headerOf(access);
      claims = claimsOf(access);
    });
    after(() => server.close());

    test('issued tokens carry the audience and are accepted', async () => {
      assert.equal(claims.aud, AUDIENCE);
      await assertAccepted(server, forge(header, { ...claims, jti: 'aud-control' }, hmac(TEST_SECRET)), 'right aud');
    });

    test('a token for another audience, or for none, is refused', async () => {
      await assertRefused(server, style, forge(header, { ...claims, aud: 'api://billing' }, hmac(TEST_SECRET)), 'wrong aud');
      await assertRefused(server, style, forge(header, { ...claims, aud: ['api://billing'] }, hmac(TEST_SECRET)), 'wrong aud list');
      const { aud: _aud, ...withoutAud } = claims;
      await assertRefused(server, style, forge(header, withoutAud, hmac(TEST_SECRET)), 'no aud');
    });
  });

  for (const alg of ['EdDSA', 'RS256'] as const) {
    describe(`forged tokens against ${alg} (${name})`, () => {
      let server: TestServer;
      let header: Json;
      let claims: Json;
      let access: string;
      let jwk: JsonWebKey & { kid?: string };
      before(async () => {
        server = await startTestServer({ style, engine, env: { LATCHKEY_JWT_ALG: alg } });
        await server.createUser('ada');
        ({ access } = await server.login('ada'));
        header = headerOf(access);
        claims = claimsOf(access);
        const jwks = await server.request('GET', '/.well-known/jwks.json');
        const key = jwks.body.keys.find((k: { kid?: string }) => k.kid === header.kid);
        assert.ok(key, 'the signing key is published');
        jwk = key;
      });
      after(() => server.close());

      test('the issued token is accepted', async () => {
        assert.equal(header.alg, alg);
        await assertAccepted(server, access, 'issued');
      });

      test('an HS256 token whose HMAC key is the published public key is refused (algorithm confusion)', async () => {
        const publicKey = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
        const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
        const der = publicKey.export({ format: 'der', type: 'spki' });
        const keys: [string, string | Buffer][] = [
          ['PEM', pem],
          ['PEM without its final newline', pem.trimEnd()],
          ['DER', der],
          ['JWK JSON', JSON.stringify(jwk)],
        ];
        if (typeof jwk.x === 'string') keys.push(['raw x', Buffer.from(jwk.x, 'base64url')]);
        if (typeof jwk.n === 'string') keys.push(['raw n', Buffer.from(jwk.n, 'base64url')]);
        for (const [label, key] of keys) {
          await assertRefused(
            server,
            style,
            forge({ alg: 'HS256', typ: 'JWT', kid: header.kid }, { ...claims, role: 'ADMIN' }, hmac(key)),
            `HS256 with the ${label}`,
          );
        }
      });

      test('a token signed by another key pair under the real kid is refused', async () => {
        const other = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('rsa', { modulusLength: 2048 });
        const signer = alg === 'EdDSA' ? eddsa(other.privateKey) : rs256(other.privateKey);
        await assertRefused(server, style, forge(header, { ...claims, role: 'ADMIN' }, signer), 'another key pair');
      });

      test('alg "none" and a changed claim are refused', async () => {
        await assertRefused(server, style, forge({ ...header, alg: 'none' }, claims), 'alg none');
        const [h, , signature] = access.split('.');
        await assertRefused(server, style, `${h}.${b64({ ...claims, role: 'ADMIN' })}.${signature}`, 'tampered role');
      });
    });
  }
}
