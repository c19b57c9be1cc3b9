/**
 * Maps whatever a request threw to a {@link LatchkeyError}: Latchkey's own errors pass through; Fastify's
 * body, validation and size errors become 400/413; an unreachable database becomes 503; the rest is 500.
 */
import type { FastifyError } from 'fastify';
import { InternalError, LatchkeyError, PayloadTooLarge, ServiceUnavailable, ValidationFailed, type FieldProblem } from '../errors.ts';
import { isUnavailableError } from '../store/errors.ts';

interface AjvProblem {
  readonly instancePath?: string;
  readonly keyword?: string;
  readonly message?: string;
  readonly params?: Record<string, unknown>;
}

function fieldOf(problem: AjvProblem): string {
  const missing = problem.params?.missingProperty;
  const path = (problem.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  if (typeof missing === 'string') return path === '' ? missing : `${path}.${missing}`;
  return path === '' ? 'body' : path;
}

export function validationDetails(problems: readonly AjvProblem[]): FieldProblem[] {
  return problems.map((p) => ({
    field: fieldOf(p),
    message: p.keyword === 'anyOf' ? 'username or email is required' : (p.message ?? 'is invalid'),
  }));
}

export function toLatchkeyError(error: unknown): { error: LatchkeyError; unexpected: boolean } {
  if (error instanceof LatchkeyError) return { error, unexpected: false };
  const fastifyError = error as Partial<FastifyError> & { validation?: AjvProblem[] };
  if (Array.isArray(fastifyError.validation))
    return { error: new ValidationFailed(validationDetails(fastifyError.validation)), unexpected: false };
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fastifyError.statusCode === 413)
    return { error: new PayloadTooLarge(), unexpected: false };
  if (isUnavailableError(error)) return { error: new ServiceUnavailable('database'), unexpected: false };
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Malformed JSON, an empty JSON body, a poisoned prototype key, a bad header: the request is at fault.
    return { error: new ValidationFailed([{ field: 'body', message: 'malformed request body' }]), unexpected: false };
  }
  return { error: new InternalError(), unexpected: true };
}
