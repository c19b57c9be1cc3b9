/**
 * The clock skew of the token contract, shared by the server (which signs and checks tokens and keeps
 * revocations for as long as a token could still pass somewhere) and `@latchkey/verify` (which checks them
 * in other services): both must allow the same leeway, or a token valid at one is refused at the other.
 */

/** RFC 7519 §4.1.4 leeway on `exp`, `iat` and `nbf`: SPEC §3's 30 s, in milliseconds. */
export const CLOCK_SKEW_MS = 30_000;
