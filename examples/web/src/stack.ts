/**
 * The whole demo in one process: the page server, Latchkey (EdDSA keys, cookie-friendly CORS for the
 * page, a revocation feed) and the jobs API verifying tokens through JWKS and the feed. Used by
 * `npm run demo` and by the browser test.
 */
import { randomBytes } from 'node:crypto';
import { type RunningServer, parseConfig, startServer } from '@latchkey/server';
import { createVerifier } from '@latchkey/verify';
import type { FastifyInstance } from 'fastify';
import { buildJobsApi } from '../../jobs-api/src/app.ts';
import { type PageServer, servePage } from './serve.ts';

export interface StackOptions {
  /** The built page (vite build's outDir). */
  readonly pageDir: string;
  readonly databaseUrl: string;
  readonly ports?: { readonly page?: number; readonly latchkey?: number; readonly jobs?: number };
  readonly style?: 'flat' | 'envelope';
  /** Latchkey's environment on top of the demo's. */
  readonly env?: Record<string, string>;
}

export interface Stack {
  readonly pageUrl: string;
  /** The page at `http://localhost:PORT`, where the browser allows passkeys (never on 127.0.0.1). */
  readonly passkeyPageUrl: string;
  readonly latchkey: RunningServer;
  readonly jobsUrl: string;
  close(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const style = options.style ?? 'flat';
  const page: PageServer = await servePage(options.pageDir, { port: options.ports?.page ?? 0 });
  const feedKey = randomBytes(24).toString('base64url');
  const latchkey = await startServer(
    parseConfig({
      HOST: '127.0.0.1',
      PORT: String(options.ports?.latchkey ?? 0),
      DATABASE_URL: options.databaseUrl,
      LATCHKEY_API_STYLE: style,
      LATCHKEY_JWT_ALG: 'EdDSA',
      // The page is on another port: allow it, with credentials, so the refresh cookie travels.
      LATCHKEY_CORS_ORIGINS: `${page.url},${page.localhostUrl}`,
      // Passkeys: the RP ID is localhost and the page (on its own port) runs the ceremonies.
      LATCHKEY_PUBLIC_URL: `http://localhost${options.ports?.latchkey ? `:${options.ports.latchkey}` : ''}`,
      LATCHKEY_WEBAUTHN_ORIGINS: page.localhostUrl,
      LATCHKEY_REVOCATION_FEED_KEY: feedKey,
      LOG_LEVEL: 'silent',
      ...options.env,
    }),
    { logger: false },
  );
  const verifier = createVerifier({
    issuer: latchkey.core.config.issuer,
    jwksUrl: `${latchkey.url}/.well-known/jwks.json`,
    revocationFeedUrl: `${latchkey.url}/api/auth/revocations`,
    revocationFeedKey: feedKey,
    style,
  });
  let jobs: FastifyInstance | undefined;
  try {
    jobs = await buildJobsApi({ verifier, corsOrigins: [page.url, page.localhostUrl] });
    const jobsUrl = await jobs.listen({ port: options.ports?.jobs ?? 0, host: '127.0.0.1' });
    page.setConfig({ authUrl: latchkey.url, apiUrl: jobsUrl, style });
    const api = jobs;
    return {
      pageUrl: page.url,
      passkeyPageUrl: page.localhostUrl,
      latchkey,
      jobsUrl,
      async close() {
        verifier.close();
        await api.close();
        await latchkey.close();
        await page.close();
      },
    };
  } catch (error) {
    verifier.close();
    await jobs?.close();
    await latchkey.close();
    await page.close();
    throw error;
  }
}
