/**
 * Runs the jobs API on its own: `npm start -w @latchkey/example-jobs-api` with Latchkey on
 * LATCHKEY_URL (default http://127.0.0.1:8080) signing with EdDSA, ES256 or RS256 (JWKS).
 */
import { createVerifier } from '@latchkey/verify';
import { buildJobsApi } from './app.ts';

const latchkey = process.env.LATCHKEY_URL ?? 'http://127.0.0.1:8080';
const verifier = createVerifier({
  issuer: process.env.LATCHKEY_ISSUER ?? 'latchkey',
  jwksUrl: `${latchkey}/.well-known/jwks.json`,
  revocationFeedUrl: `${latchkey}/api/auth/revocations`,
  revocationFeedKey: process.env.LATCHKEY_REVOCATION_FEED_KEY,
  style: process.env.LATCHKEY_API_STYLE === 'envelope' ? 'envelope' : 'flat',
});
const app = await buildJobsApi({ verifier, corsOrigins: (process.env.CORS_ORIGINS ?? 'http://127.0.0.1:5173').split(',') });
await app.listen({ port: Number(process.env.PORT ?? 8081), host: process.env.HOST ?? '127.0.0.1' });
console.log(`jobs API on http://127.0.0.1:${process.env.PORT ?? 8081}`);
