/**
 * Verify speed of the two candidate stacks for JWKS deployments: fast-jwt (+ get-jwks, as
 * createVerifier uses it) and jose (createRemoteJWKSet + jwtVerify). Same EdDSA tokens, same local JWKS.
 *
 *   node --import tsx packages/verify/bench/verify-speed.ts
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createSigner } from 'fast-jwt';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { createVerifier } from '../src/index.ts';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'EdDSA', use: 'sig' };
const server = createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const jwksUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/.well-known/jwks.json`;

const sign = createSigner({ key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), algorithm: 'EdDSA', kid: 'k1' });
const token = () =>
  sign({
    user_id: 1,
    username: 'ada',
    role: 'STANDARD',
    token_type: 'access',
    iss: 'latchkey',
    sub: 'ada',
    sid: 's1',
    jti: randomUUID(),
    iat: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.now() / 1000) + 3600,
  });

const N = 5000;
const same = token();
const unique = Array.from({ length: N }, token);

async function measure(name: string, verify: (t: string) => Promise<unknown>, tokens: (i: number) => string): Promise<void> {
  await verify(tokens(0)); // warm: fetch the JWKS, compile
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await verify(tokens(i));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(
    `${name.padEnd(44)} ${Math.round(N / seconds)
      .toLocaleString('en')
      .padStart(9)} verifications/s`,
  );
}

const ours = createVerifier({ issuer: 'latchkey', jwksUrl });
const joseKeys = createRemoteJWKSet(new URL(jwksUrl));
const jose = (t: string) => jwtVerify(t, joseKeys, { issuer: 'latchkey', algorithms: ['EdDSA'], clockTolerance: 30 });

await measure(
  'fast-jwt + get-jwks, same token each time',
  (t) => ours.verify(t),
  () => same,
);
await measure('jose, same token each time', jose, () => same);
await measure(
  'fast-jwt + get-jwks, a new token each time',
  (t) => ours.verify(t),
  (i) => unique[i] ?? same,
);
await measure('jose, a new token each time', jose, (i) => unique[i] ?? same);
ours.close();
server.close();
