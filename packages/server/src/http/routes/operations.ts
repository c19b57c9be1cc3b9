/** Health, readiness and Prometheus metrics. */
import type { FastifyInstance } from 'fastify';
import { type RouteContext, responseMeta } from '../context.ts';

export function operationsRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/healthz', { schema: { tags: ['operations'], summary: 'The process is alive' } }, async (request) => {
    return ctx.style.ok({ status: 'ok' }, responseMeta(request));
  });

  app.get('/readyz', { schema: { tags: ['operations'], summary: 'The database (and Redis, when configured) answer' } }, async (request, reply) => {
    const checks: Record<string, string> = {};
    for (const [name, probe] of Object.entries(ctx.core.readiness())) {
      try {
        await probe();
        checks[name] = 'ok';
      } catch {
        checks[name] = 'down';
      }
    }
    const ready = Object.values(checks).every((c) => c === 'ok');
    reply.code(ready ? 200 : 503);
    return ctx.style.ok({ status: ready ? 'ok' : 'unavailable', checks }, responseMeta(request));
  });

  app.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    reply.header('content-type', ctx.core.metrics.registry.contentType);
    return ctx.core.metrics.registry.metrics();
  });
}
