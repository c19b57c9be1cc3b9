/**
 * `@latchkey/client`: log in to Latchkey, keep the tokens fresh, call your APIs with them. No runtime
 * dependencies; browsers and Node 20. React hooks are in `@latchkey/client/react`.
 */
export {
  createAuthClient,
  type AuthClient,
  type AuthClientOptions,
  type AuthEvent,
  type AuthEventType,
  type AuthSession,
  type LoginCredentials,
  type LoginResult,
  type Me,
  type Role,
  type SessionInfo,
  type WireStyle,
} from './client.ts';
export { LatchkeyError, errorOfResponse, type FieldProblem } from './errors.ts';
export type { AccountMethods, ForgotPasswordInput, RegisterInput, RegisterResult } from './accounts.ts';
export { memoryStorage, type StorageOption, type TokenStorage, type StoredSession } from './storage.ts';
export { attachAxios, type AxiosInstanceLike, type AxiosRequestConfigLike, type AxiosErrorLike } from './axios.ts';
export type { EnrollmentRequired, MfaMethod, PasskeyInfo, SecondStepRequired, WebAuthnCeremonies } from './mfa.ts';
