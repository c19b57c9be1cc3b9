/**
 * Request validators, compiled once per process rather than once per app. Fastify gives each app its own Ajv
 * and compiles every route's schemas again: ~50 ms of CPU a start, repeated for every app a process builds
 * (the test suite builds hundreds). Here the Ajv instances come from one process-wide pool (keyed, as
 * Fastify's own, by the shared schemas and Ajv options), and the validator of a route's schema is kept by
 * that pool entry, keyed by the route and its schema as JSON, so that an equal route reuses it. A validator
 * is a pure function of its schema, and a call fills its `errors` and is read before the next one. Fastify
 * treats a compiler of one's own as custom, which changes one thing: a headers schema is not lower-cased (no
 * route has one).
 */
import { AjvCompiler } from '@fastify/ajv-compiler';

type BuildCompiler = ReturnType<typeof AjvCompiler>;
type Compile = ReturnType<BuildCompiler>;

const pool = AjvCompiler();
const compiledBy = new WeakMap<Compile, Map<string, ReturnType<Compile>>>();
let compiledCount = 0;

/** `schemaController.compilersFactory.buildValidator` of every app. */
export const buildValidator: BuildCompiler = (externalSchemas, options) => {
  const compile = pool(externalSchemas, options);
  let compiled = compiledBy.get(compile);
  if (compiled === undefined) {
    compiled = new Map();
    compiledBy.set(compile, compiled);
  }
  const cache = compiled;
  // Fastify calls it with the route's method, url, part (body, querystring…) and schema.
  return (route: Parameters<Compile>[0]) => {
    const key = JSON.stringify(route);
    let validate = cache.get(key);
    if (validate === undefined) {
      validate = compile(route);
      cache.set(key, validate);
      compiledCount += 1;
    }
    return validate;
  };
};

/** How many validators this process has compiled (tests: a second app compiles none). */
export function compiledValidators(): number {
  return compiledCount;
}
