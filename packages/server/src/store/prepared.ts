/**
 * Queries compiled once and run many times. Building and compiling a Kysely query costs more than
 * SQLite takes to run it; the refresh path runs four on every call. A prepared query is compiled by
 * the same dialect (so it stays engine-neutral) with named placeholders, and each run only substitutes
 * the values.
 *
 * @example
 *   const spend = prepare((p) => db.updateTable('refresh_tokens').set({ spent_at: p('now', 0) }).where('jti_hash', '=', p('hash', '')));
 *   await spend.run(db, { now: Date.now(), hash });
 */
import type { Compilable, CompiledQuery, QueryResult } from 'kysely';

class Placeholder {
  constructor(readonly name: string) {}
}

/** Marks a parameter by name; `sample` only gives its type. */
export type Param = <T>(name: string, sample: T) => T;

/** Anything that runs a compiled query: the Kysely instance or a transaction. */
export interface QueryRunner {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

export interface Prepared<R, N extends string> {
  run(runner: QueryRunner, values: Readonly<Record<N, unknown>>): Promise<QueryResult<R>>;
}

export function prepare<R, N extends string = string>(build: (p: Param) => Compilable<R>): Prepared<R, N> {
  const p: Param = <T>(name: string) => new Placeholder(name) as unknown as T;
  const compiled = build(p).compile();
  const slots = compiled.parameters.map((value) => (value instanceof Placeholder ? value.name : undefined));
  const constants = compiled.parameters;
  return {
    run(runner, values) {
      const parameters = slots.map((name, i) => (name === undefined ? constants[i] : (values as Record<string, unknown>)[name]));
      return runner.executeQuery<R>({ ...compiled, parameters });
    },
  };
}
