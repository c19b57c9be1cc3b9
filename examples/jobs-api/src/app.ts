/**
 * The jobs API: a resource server that trusts Latchkey's access tokens through `@latchkey/verify`,
 * with no call to Latchkey per request. Everyone signed in sees the jobs; only an ADMIN may close one.
 *
 * @example
 *   const verifier = createVerifier({ issuer: 'latchkey', jwksUrl: 'http://127.0.0.1:8080/.well-known/jwks.json' });
 *   const app = await buildJobsApi({ verifier, corsOrigins: ['http://127.0.0.1:5173'] });
 *   await app.listen({ port: 8081 });
 */
import fastifyCors from '@fastify/cors';
import { type AuthUser, type Verifier, fastifyAuth, requireRole } from '@latchkey/verify';
import Fastify, { type FastifyInstance } from 'fastify';

export interface Job {
  readonly id: number;
  readonly title: string;
  readonly company: string;
  status: 'open' | 'closed';
}

export interface JobsApiOptions {
  readonly verifier: Verifier;
  /** Origins of the web pages that call this API (CORS). */
  readonly corsOrigins?: readonly string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: AuthUser;
  }
}

function sampleJobs(): Job[] {
  return [
    { id: 1, title: 'Backend engineer (TypeScript)', company: 'Acme Rockets', status: 'open' },
    { id: 2, title: 'Site reliability engineer', company: 'Globex', status: 'open' },
    { id: 3, title: 'Frontend engineer (React)', company: 'Initech', status: 'open' },
  ];
}

export async function buildJobsApi(options: JobsApiOptions): Promise<FastifyInstance> {
  const jobs = sampleJobs();
  const app = Fastify({ logger: false });
  if (options.corsOrigins && options.corsOrigins.length > 0) {
    await app.register(fastifyCors, {
      origin: [...options.corsOrigins],
      allowedHeaders: ['Authorization', 'Content-Type'],
      methods: ['GET', 'POST'],
    });
  }
  // Every route below needs a valid Latchkey access token.
  app.addHook('preHandler', fastifyAuth(options.verifier));

  app.get('/api/jobs', async (request) => ({ viewer: request.user, jobs }));

  app.post('/api/jobs/:id/close', { preHandler: requireRole('ADMIN') }, async (request, reply) => {
    const job = jobs.find((j) => j.id === Number((request.params as { id: string }).id));
    if (!job) return reply.code(404).send({ error: 'not found' });
    job.status = 'closed';
    return job;
  });
  return app;
}
