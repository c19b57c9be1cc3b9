/** `/.well-known/jwks.json` and `/.well-known/openid-configuration`: standard documents, never wrapped. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RouteContext } from '../context.ts';

/** The externally visible origin of this server, as the request reached it. */
function origin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

export function wellKnownRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/.well-known/jwks.json', { schema: { tags: ['keys'], summary: 'Public signing keys (JWK Set, RFC 7517)' } }, async (_request, reply) => {
    const keys = [...ctx.core.tokens.keyRing.keys.values()].flatMap((k) => (k.publicJwk === undefined ? [] : [k.publicJwk]));
    // Short enough that verifiers see a rotation well before the new key signs anything they must check.
    reply.header('cache-control', 'public, max-age=300');
    return { keys };
  });

  app.get('/.well-known/openid-configuration', { schema: { tags: ['keys'], summary: 'Discovery document naming the issuer and jwks_uri' } }, async (request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    const base = origin(request);
    return {
      issuer: ctx.core.config.issuer,
      jwks_uri: `${base}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: [ctx.core.config.jwtAlg],
      token_endpoint: `${base}/api/auth/refresh`,
      response_types_supported: ['token'],
      subject_types_supported: ['public'],
    };
  });
}
