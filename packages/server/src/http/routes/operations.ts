/** Health, readiness and Prometheus metrics. */
import { objectSchema, okDoc } from '../admin.ts';
import { type RouteContext, responseMeta, type LatchkeyApp } from '../context.ts';
import { responseSchemas } from '../schemas.ts';

export function operationsRoutes(app: LatchkeyApp, ctx: RouteContext): void {
  const { style } = ctx;
  const checks = {
    type: 'object',
    additionalProperties: { type: 'string', enum: ['ok', 'down'] },
    description: 'Each dependency: ok or down',
  };
  const health = okDoc(style, 'Alive', objectSchema(style, { status: { type: 'string', const: 'ok' } }, ['status']), { status: 'ok' });
  const readiness = (status: 'ok' | 'unavailable', description: string) =>
    okDoc(style, description, objectSchema(style, { status: { type: 'string', const: status }, checks }, ['status', 'checks']), {
      status,
      checks: { database: status === 'ok' ? 'ok' : 'down' },
    });
  app.get('/healthz', { schema: { tags: ['operations'], summary: 'The process is alive', response: { 200: health } } }, async (request) => {
    return ctx.style.ok({ status: 'ok' }, responseMeta(request));
  });

  const readyzSchema = {
    tags: ['operations'],
    summary: 'The database (and Redis, when configured) answer',
    response: {
      200: readiness('ok', 'Every dependency answers'),
      503: readiness('unavailable', 'A dependency does not answer (see checks)'),
    },
  };
  app.get('/readyz', { schema: readyzSchema }, async (request, reply) => {
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

  const metricsSchema = {
    tags: ['operations'],
    summary: 'Prometheus metrics',
    description:
      'Under `serve --workers N`, the totals of every worker, whichever one answers; 503 when the cluster primary does not answer.',
    response: {
      200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } },
      503: responseSchemas(style).error,
    },
  };
  app.get('/metrics', { schema: metricsSchema }, async (_request, reply) => {
    reply.header('content-type', ctx.core.metrics.registry.contentType);
    return ctx.core.metrics.text();
  });
}
