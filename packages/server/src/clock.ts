/**
 * Latchkey's time rules, in one place: how far two clocks may disagree (SPEC §3 allows 30 s for tokens,
 * ours and an OpenID provider's), and for how long a revoked session must be remembered so that no
 * access token signed before the revocation can still pass.
 *
 * @example
 *   const until = revocationExpiry(config, Date.now());
 */

import { CLOCK_SKEW_MS } from './wire/clock.ts';

/** The clock skew allowed when checking `exp`, `iat` and `nbf`, in milliseconds (the same in `@latchkey/verify`). */
export { CLOCK_SKEW_MS };

/** The same skew in seconds, for libraries that count in seconds (oauth4webapi's `clockTolerance`). */
export const CLOCK_SKEW_S = CLOCK_SKEW_MS / 1000;

/**
 * How long a revocation must be remembered: an access token signed a moment before it lives for the
 * access TTL, and a verifier whose clock runs behind accepts it for the skew on top.
 */
export function revocationLifetimeMs(config: { readonly accessTtlMs: number }): number {
  return config.accessTtlMs + CLOCK_SKEW_MS;
}

/** When a session revoked at `now` may be forgotten (the `expires_at` of its revocation record). */
export function revocationExpiry(config: { readonly accessTtlMs: number }, now: number): number {
  return now + revocationLifetimeMs(config);
}
