/**
 * Refresh (SPEC §3): the per-address limit, then the rotation of the refresh token (auth/sessions.ts), counted
 * by outcome in `latchkey_refreshes_total`. A spent token presented after the grace also counts in
 * `latchkey_refresh_token_reuse_total` (the rotation revokes the session and audits it).
 *
 * @example
 *   const issued = await refreshTokens(core, token, { ip: '203.0.113.7' });
 */
import type { RequestContext } from '../audit.ts';
import { InvalidRefreshToken, RateLimited, RefreshTokenReused } from '../errors.ts';
import type { AbuseLimiter } from '../limits/abuse.ts';
import type { Metrics } from '../metrics.ts';
import type { IssuedTokens, SessionService } from './sessions.ts';

export interface RefreshDeps {
  readonly limiter: AbuseLimiter;
  readonly sessions: SessionService;
  readonly metrics: Metrics;
}

/** Spends `refreshToken` and returns the next pair; throws what the limit or the rotation refuses with. */
export async function refreshTokens(deps: RefreshDeps, refreshToken: string, ctx: RequestContext): Promise<IssuedTokens> {
  const { limiter, sessions, metrics } = deps;
  try {
    await limiter.beforeRefresh(ctx.ip ?? 'unknown');
    const issued = await sessions.rotate(refreshToken, ctx);
    metrics.refreshes.inc({ outcome: 'success' });
    return issued;
  } catch (error) {
    if (error instanceof RateLimited) {
      metrics.rateLimited.inc({ limit: error.limit });
      metrics.refreshes.inc({ outcome: 'rate_limited' });
    } else if (error instanceof RefreshTokenReused) {
      metrics.refreshReuse.inc();
      metrics.refreshes.inc({ outcome: 'reuse' });
    } else if (error instanceof InvalidRefreshToken) {
      metrics.refreshes.inc({ outcome: 'invalid' });
    }
    throw error;
  }
}
