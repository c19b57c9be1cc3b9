/**
 * `@latchkey/verify`: verify Latchkey access tokens in the team's other services, with instant
 * revocation through Latchkey's revocation feed, and middleware for Fastify, Express and Hono.
 */
export {
  createVerifier,
  type Verifier,
  type VerifierOptions,
  type VerifiedToken,
  type AuthUser,
  type Role,
  type WireStyle,
} from './verifier.ts';
export {
  fastifyAuth,
  expressAuth,
  honoAuth,
  requireRole,
  requireMfa,
  isMultiFactor,
  signInOf,
  bearerToken,
  renderError,
  type RenderedError,
} from './middleware.ts';
export { LatchkeyError, type VerifyErrorCode } from './errors.ts';
export { RevocationFeed, type FeedStatus, type RevocationFeedOptions } from './feed.ts';
