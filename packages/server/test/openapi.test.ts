/**
 * The OpenAPI document (issue 10, item 20) is valid OpenAPI 3.1 by a real validator, documents a 2xx response with
 * a schema for every operation, and describes every route the server answers: a route added without its schema
 * fails here.
 */
import assert from 'node:assert/strict';
import { compileErrors, validate } from '@readme/openapi-parser';
import { after, before, describe, test } from 'node:test';
import { STYLES, type TestServer, startTestServer } from './support/server.ts';

interface Operation {
  readonly responses?: Record<string, { readonly content?: Record<string, { readonly schema?: unknown }> }>;
}
type Document = { readonly openapi: string; readonly paths: Record<string, Record<string, Operation>> };

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

for (const style of STYLES) {
  describe(`GET /openapi.json (${style} style)`, () => {
    let server: TestServer;
    let document: Document;
    before(async () => {
      // Every optional route group on: OpenID sign-in (a provider that need not answer for the document).
      server = await startTestServer({
        style,
        env: {
          LATCHKEY_GOOGLE_CLIENT_ID: 'client-id',
          LATCHKEY_GOOGLE_ISSUER: 'http://127.0.0.1:9/issuer',
          LATCHKEY_CORS_ORIGINS: 'https://app.example.com',
        },
      });
      const res = await server.request('GET', '/openapi.json');
      assert.equal(res.status, 200);
      document = res.body;
    });
    after(() => server.close());

    test('is a valid OpenAPI 3.1 document by @readme/openapi-parser', async () => {
      assert.equal(document.openapi, '3.1.0');
      const result = await validate(structuredClone(document) as never);
      assert.equal(result.valid, true, result.valid ? '' : compileErrors(result));
    });

    test('every operation documents a 2xx response with a schema', () => {
      const missing: string[] = [];
      for (const [path, item] of Object.entries(document.paths)) {
        for (const [method, operation] of Object.entries(item)) {
          if (!METHODS.includes(method)) continue;
          const ok = Object.entries(operation.responses ?? {}).filter(([status]) => /^[23]\d\d$/.test(status));
          // 204 and redirects (the sign-in start) carry no body; every other 2xx must say what its body is.
          const documented =
            ok.length > 0 &&
            ok.every(
              ([status, response]) =>
                !status.startsWith('2') || status === '204' || Object.values(response.content ?? {}).some((c) => c.schema !== undefined),
            );
          if (!documented) missing.push(`${method.toUpperCase()} ${path}`);
        }
      }
      assert.deepEqual(missing, []);
    });

    test('every route the server answers is in the document', () => {
      const documented = new Set(
        Object.entries(document.paths).flatMap(([path, item]) =>
          Object.keys(item)
            .filter((m) => METHODS.includes(m))
            .map((m) => `${m.toUpperCase()} ${path}`),
        ),
      );
      const answered = server.server.app.latchkeyRoutes
        // HEAD is Fastify's automatic twin of each GET; OPTIONS is the CORS preflight of every path.
        .filter((r) => !r.hidden && r.method !== 'HEAD' && r.method !== 'OPTIONS')
        // Written as @fastify/swagger writes paths: `:id` → `{id}`, a wildcard `*` → `{*}`.
        .map((r) => `${r.method} ${r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace('*', '{*}')}`);
      assert.ok(answered.length > 20, String(answered.length));
      assert.deepEqual(
        answered.filter((r) => !documented.has(r)),
        [],
      );
    });

    test('the revocation feed is text/event-stream, /metrics Prometheus text, /readyz documents its 503', () => {
      assert.ok(document.paths['/api/auth/revocations']?.get?.responses?.['200']?.content?.['text/event-stream']);
      assert.ok(document.paths['/metrics']?.get?.responses?.['200']?.content?.['text/plain']);
      assert.ok(document.paths['/readyz']?.get?.responses?.['503']?.content?.['application/json']);
    });
  });
}
