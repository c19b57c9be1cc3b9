/**
 * Response descriptions for the OpenAPI document (and so the /docs page): Fastify's generator says
 * "Default Response" for every response schema without a description. A route's own description always
 * wins; these fill the rest, first for one operation's status, then for the status alone.
 */

const BY_OPERATION: Readonly<Record<string, string>> = {
  'post /api/auth/login 200': 'Token pair',
  'post /api/auth/login 401': 'Wrong username or password, or a disabled account',
  'post /api/auth/refresh 200': 'Token pair (the refresh token given is spent)',
  'post /api/auth/refresh 401': 'No session: no refresh token, or one that is invalid, spent, expired or revoked',
  'get /api/auth/verify 200': 'The token is valid: who it belongs to',
  'get /healthz 200': 'Alive',
  'get /readyz 200': 'Ready: the database (and Redis, when configured) answer',
  'get /metrics 200': 'Prometheus text format',
  'post /api/auth/password 403': 'The current password is incorrect',
};

/** Operations whose path starts with one of these are OpenID sign-in routes. */
const SIGN_IN = ['/api/auth/google', '/api/auth/oidc/'];

const SIGN_IN_BY_STATUS: Readonly<Record<string, string>> = {
  200: 'Token pair',
  302: 'Back to redirect_to, signed in (or with ?error=<code>)',
  400: 'A malformed body, a redirect_to that is not allowed, or a missing, expired or replayed sign-in state',
  401: 'The provider did not grant access, or the code or ID token is invalid',
  403: 'The account cannot sign in this way: unverified email, domain not allowed, no linked account, or disabled',
  404: 'Unknown sign-in provider',
  503: 'The identity provider could not be reached',
};

const BY_STATUS: Readonly<Record<string, string>> = {
  200: 'Success',
  400: 'A malformed body or query, or a value the rules refuse',
  401: 'No valid access token',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  429: 'Too many attempts: retry after Retry-After seconds',
  503: 'A dependency is unavailable: retry after Retry-After seconds',
};

const GENERATED = 'Default Response';

interface Operation {
  responses?: Record<string, { description?: string }>;
}

/** Fills the generated "Default Response" descriptions of `document` in place, and returns it. */
export function describeResponses<T extends { paths?: Record<string, unknown> }>(document: T): T {
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries((item ?? {}) as Record<string, Operation>)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (response.description !== GENERATED && response.description !== undefined) continue;
        const signIn = SIGN_IN.some((prefix) => path.startsWith(prefix)) ? SIGN_IN_BY_STATUS[status] : undefined;
        response.description = BY_OPERATION[`${method} ${path} ${status}`] ?? signIn ?? BY_STATUS[status] ?? `HTTP ${status}`;
      }
    }
  }
  return document;
}
