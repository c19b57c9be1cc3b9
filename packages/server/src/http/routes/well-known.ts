/** `/.well-known/jwks.json` and `/.well-known/openid-configuration`: standard documents, never wrapped. */
import { type SigningKey, signsValidAccessTokens } from '../../auth/keys.ts';
import type { RouteContext, LatchkeyApp } from '../context.ts';

/**
 * The public members of each key type (RFC 7518 §6): an allow-list, so that a private member (`d`, `p`,
 * `q`, …, or an HS256 `k`) can never reach the document whatever the stored JWK holds.
 */
const PUBLIC_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  OKP: ['crv', 'x'],
  EC: ['crv', 'x', 'y'],
  RSA: ['n', 'e'],
};

function publicJwk(key: SigningKey): Record<string, unknown> | undefined {
  const jwk = key.publicJwk;
  const members = typeof jwk?.kty === 'string' ? PUBLIC_MEMBERS[jwk.kty] : undefined;
  if (jwk === undefined || members === undefined) return undefined;
  const out: Record<string, unknown> = { kty: jwk.kty, kid: key.kid, alg: key.alg, use: 'sig' };
  for (const name of members) out[name] = jwk[name];
  return out;
}

const jwkSchema = {
  type: 'object',
  properties: {
    kty: { type: 'string', enum: ['OKP', 'EC', 'RSA'] },
    kid: { type: 'string' },
    alg: { type: 'string', enum: ['EdDSA', 'ES256', 'RS256'] },
    use: { type: 'string', const: 'sig' },
    crv: { type: 'string' },
    x: { type: 'string' },
    y: { type: 'string' },
    n: { type: 'string' },
    e: { type: 'string' },
  },
  required: ['kty', 'kid', 'alg', 'use'],
} as const;

export function wellKnownRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['keys'],
        summary: 'Public signing keys (JWK Set, RFC 7517)',
        description:
          'The public keys of the current signing key and of retired keys whose tokens may still be valid (EdDSA, ES256, RS256). ' +
          'HS256 keys are secret and never appear: the set is then empty. Never wrapped in the envelope.',
        response: {
          200: {
            type: 'object',
            description: 'The JWK Set',
            properties: { keys: { type: 'array', items: jwkSchema } },
            examples: [
              {
                keys: [
                  {
                    kty: 'OKP',
                    kid: 'Xq3v9mD2kR1aB7cE',
                    alg: 'EdDSA',
                    use: 'sig',
                    crv: 'Ed25519',
                    x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
                  },
                ],
              },
            ],
          },
        },
      },
    },
    async (_request, reply) => {
      const now = Date.now();
      // The ring is re-read every 30 s; a retired key leaves as soon as every access token it may have signed
      // has expired (resource servers verify nothing else; this server keeps it for refresh tokens).
      const keys = [...ctx.core.tokens.keyRing.keys.values()]
        .filter((k) => (k.expiresAt === null || k.expiresAt > now) && signsValidAccessTokens(ctx.core.config, k, now))
        .flatMap((k) => publicJwk(k) ?? []);
      // Five minutes: verifiers that see an unknown kid re-fetch at once (jose, get-jwks, @latchkey/verify),
      // and a retired key stays listed far longer than this, so a cached copy never drops a needed key.
      reply.header('cache-control', 'public, max-age=300');
      return { keys };
    },
  );

  app.get(
    '/.well-known/openid-configuration',
    {
      schema: {
        tags: ['keys'],
        summary: 'Discovery document naming the issuer and jwks_uri',
        description:
          'A minimal OpenID Connect discovery document, so that standard JWT libraries can find the keys. Never wrapped in the envelope.',
        response: {
          200: {
            type: 'object',
            description: 'The discovery document',
            properties: {
              issuer: { type: 'string' },
              jwks_uri: { type: 'string' },
              id_token_signing_alg_values_supported: { type: 'array', items: { type: 'string' } },
              subject_types_supported: { type: 'array', items: { type: 'string' } },
              response_types_supported: { type: 'array', items: { type: 'string' } },
            },
            examples: [
              {
                issuer: 'latchkey',
                jwks_uri: 'https://auth.example.com/.well-known/jwks.json',
                id_token_signing_alg_values_supported: ['EdDSA'],
                subject_types_supported: ['public'],
                response_types_supported: ['token'],
              },
            ],
          },
        },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      // From LATCHKEY_PUBLIC_URL, never from Host or X-Forwarded-Host: the document is cached publicly, so one
      // request with a forged Host would otherwise point every cached reader at the attacker's keys.
      // No token_endpoint: /api/auth/refresh does not speak the OAuth 2.0 token request (RFC 6749 §3.2),
      // and a client that believed it did would fail.
      return {
        issuer: ctx.core.config.issuer,
        jwks_uri: `${ctx.core.config.publicUrl}/.well-known/jwks.json`,
        id_token_signing_alg_values_supported: [ctx.core.config.jwtAlg],
        subject_types_supported: ['public'],
        response_types_supported: ['token'],
      };
    },
  );
}
