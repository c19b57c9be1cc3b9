/**
 * One internal spelling for request bodies. A body schema that accepts a field in both spellings
 * (`current_password` and `currentPassword`: both styles have always taken either) gets a preHandler that,
 * after validation, copies the camelCase field to its snake_case name when that is absent, so a handler
 * reads `body.current_password` alone. The snake_case spelling wins when a client sends both, as it did
 * when handlers read `body.current_password ?? body.currentPassword`. Only top-level fields of the
 * route's own schema are renamed: nested objects (a WebAuthn credential) stay as the client sent them.
 */
import type { RouteOptions, preHandlerHookHandler } from 'fastify';

export function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `[camelCase, snake_case]` pairs of the fields a body schema names in both spellings. */
export function spellingPairs(bodySchema: unknown): readonly (readonly [string, string])[] {
  const properties = (bodySchema as { properties?: Record<string, unknown> } | undefined)?.properties;
  if (properties === undefined) return [];
  return Object.keys(properties)
    .map((key) => [key, snakeCase(key)] as const)
    .filter(([camel, snake]) => camel !== snake && snake in properties);
}

/** An `onRoute` hook: adds the renaming preHandler to each route whose body has both spellings. */
export function oneInputSpelling(route: RouteOptions): void {
  const pairs = spellingPairs(route.schema?.body);
  if (pairs.length === 0) return;
  const rename: preHandlerHookHandler = (request, _reply, done) => {
    const body = request.body;
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
      const fields = body as Record<string, unknown>;
      for (const [camel, snake] of pairs) {
        if (fields[snake] === undefined && fields[camel] !== undefined) fields[snake] = fields[camel];
      }
    }
    done();
  };
  const existing = route.preHandler;
  route.preHandler = existing === undefined ? [rename] : [rename, ...[existing].flat()];
}
