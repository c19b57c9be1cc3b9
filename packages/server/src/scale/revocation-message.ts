/**
 * A revocation as another instance sent it (Redis pub/sub, or a cluster worker over IPC), checked before
 * it is believed. Its own module so that the cluster code reads it without loading ioredis.
 */
import type { Revocation } from '../auth/revocations.ts';

/**
 * Checks a revocation that came from another process; anything malformed is ignored (the database poll
 * stays the truth), and the expiry is capped at `latestExpiry`.
 */
export function readRevocation(value: unknown, latestExpiry: number): Revocation | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { sessionId, expiresAt } = value as Record<string, unknown>;
  if (typeof sessionId !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(sessionId)) return undefined;
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return undefined;
  return { sessionId, expiresAt: Math.min(expiresAt, latestExpiry) };
}
