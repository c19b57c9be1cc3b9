/**
 * The one `Database` interface every query is checked against. Timestamps are integer milliseconds
 * since the epoch and flags are 0/1 integers, so SQLite and PostgreSQL store the same values.
 */
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

export interface UsersTable {
  id: Generated<number>;
  username: string;
  /** `username` lower-cased by JavaScript, unique: usernames compare case-insensitively. */
  username_key: string;
  email: string | null;
  email_key: string | null;
  role: string;
  /** null for accounts that only sign in with an identity provider. */
  password_hash: string | null;
  disabled: number;
  created_at: number;
  updated_at: number;
  last_login_at: number | null;
  google_sub: string | null;
  /**
   * Raised by every change that must end the user's sessions (new password, disabled, deleted), in the
   * transaction that revokes them; a login creates its session only if it is still the one it read.
   */
  credential_version: Generated<number>;
  /** 1 once the address is confirmed (SPEC §10); users made by an admin or the CLI start verified. */
  email_verified: Generated<number>;
}

export interface SessionsTable {
  /** The `sid` claim: 128 random bits, base64url. */
  id: string;
  user_id: number;
  created_at: number;
  /** Absolute end (LATCHKEY_SESSION_MAX_AGE after login); null when sessions have no absolute limit. */
  expires_at: number | null;
  last_used_at: number;
  revoked_at: number | null;
  revoke_reason: string | null;
  ip: string | null;
  user_agent: string | null;
  /** The user's credential_version the session was opened under; refresh refuses any other. */
  credential_version: Generated<number>;
  /** RFC 8176 methods of the sign-in, space-separated (`pwd otp`); null for sessions older than migration 0007. */
  amr: string | null;
  /** When the user signed in (ms); null for sessions older than migration 0007 (their `created_at` stands in). */
  auth_time: number | null;
  /** `mfa_enrollment` for a session whose tokens only reach the enrolment endpoints (SPEC §11 policy). */
  scope: string | null;
  /**
   * SHA-256 of the `jti` of the session's one unspent refresh token, base64url (the jti itself is never
   * stored). Rotation replaces it in place by compare-and-set; null once no token of the session can refresh.
   */
  refresh_hash: string | null;
  /** SHA-256 of the `jti` spent by the last rotation: within the reuse grace it gets the same successor again. */
  previous_hash: string | null;
  /** When the last rotation happened (ms): the start of the reuse grace and the successor's `iat`. */
  rotated_at: number | null;
}

/** Revoked sessions whose access tokens may still be alive; kept until `expires_at`, then pruned. */
export interface RevokedSessionsTable {
  session_id: string;
  user_id: number;
  revoked_at: number;
  expires_at: number;
}

export interface AuditEventsTable {
  id: Generated<number>;
  at: number;
  type: string;
  actor_user_id: number | null;
  user_id: number | null;
  session_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  /** JSON object with event-specific, never secret, details. */
  details: string | null;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  /** HS256 secret or private key PEM; encrypted when LATCHKEY_KEY_ENCRYPTION_SECRET is set. */
  secret: string;
  /** Public JWK as JSON (asymmetric algorithms only). */
  public_jwk: string | null;
  created_at: number;
  /** When a newer key took over signing; the key keeps verifying until `expires_at`. */
  retired_at: number | null;
  expires_at: number | null;
}

/** A sign-in identity at an OpenID provider, keyed by (issuer, subject) as OpenID Connect Core §5.7 requires. */
export interface IdentitiesTable {
  issuer: string;
  subject: string;
  /** The configured provider id it was linked through (informational: the issuer is the key). */
  provider: string;
  user_id: number;
  /** The email the provider last asserted, verified. */
  email: string | null;
  created_at: number;
  last_used_at: number;
}

/** SHA-256 of sign-in `state` values already used, kept until the transaction would have expired. */
export interface OidcSpentStatesTable {
  state_hash: string;
  expires_at: number;
}

/** Random secrets created once and shared by every instance; encrypted like signing keys when configured. */
export interface ServerSecretsTable {
  name: string;
  secret: string;
  created_at: number;
}

/** Single-use mail links (SPEC §10): only the SHA-256 of the token is kept. */
export interface LinkTokensTable {
  token_hash: string;
  /** null for a decoy written for an unknown address. */
  user_id: number | null;
  purpose: string;
  /** The address the link confirms (sign-up: the user's; email change: the new one). */
  email: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** The durable outbox: a message is written with the token it carries and delivered by the sender. */
export interface MailOutboxTable {
  id: Generated<number>;
  kind: string;
  recipient: string | null;
  /** 0 for a message addressed to nobody (unknown address, recipient limit): discarded unsent. */
  deliver: number;
  /** `{subject, text, html}` as JSON, sealed when LATCHKEY_KEY_ENCRYPTION_SECRET is set; null once sent. */
  message: string | null;
  status: string;
  attempts: Generated<number>;
  next_attempt_at: number;
  claimed_by: string | null;
  claimed_until: number | null;
  created_at: number;
  sent_at: number | null;
  last_error: string | null;
}

/**
 * Bootstrap admins (LATCHKEY_ADMIN_USERNAME) this database has created, by username key: one that an
 * admin deleted later is not created again at the next start.
 */
export interface BootstrappedAdminsTable {
  username_key: string;
  created_at: number;
}

/** A user's TOTP factor; `secret` sealed like signing keys; pending until `confirmed_at`. */
export interface MfaTotpTable {
  user_id: number;
  secret: string;
  created_at: number;
  confirmed_at: number | null;
  /** The RFC 6238 time step last accepted; only ever moved forward by a compare-and-set. */
  last_step: number | null;
}

export interface MfaRecoveryCodesTable {
  user_id: number;
  /** SHA-256 of the normalised code, base64url. */
  code_hash: string;
  created_at: number;
  used_at: number | null;
}

export interface PasskeysTable {
  /** Public id used in the API (random), not the credential id. */
  id: string;
  user_id: number;
  /** WebAuthn credential id, base64url. */
  credential_id: string;
  /** COSE public key, base64url. */
  public_key: string;
  counter: number;
  /** JSON array of authenticator transports. */
  transports: string | null;
  name: string;
  created_at: number;
  last_used_at: number | null;
}

/** `mfa_token`s and WebAuthn challenges, by the SHA-256 of their id; single use by compare-and-set. */
export interface MfaChallengesTable {
  id_hash: string;
  /** `mfa_token`, `passkey_registration` or `passkey_login`. */
  kind: string;
  user_id: number | null;
  /** The WebAuthn challenge (base64url) waiting for an answer. */
  challenge: string | null;
  /** Methods already proven (`pwd`, `fed`), space-separated. */
  amr: string | null;
  failures: Generated<number>;
  created_at: number;
  expires_at: number;
  spent_at: number | null;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  revoked_sessions: RevokedSessionsTable;
  audit_events: AuditEventsTable;
  signing_keys: SigningKeysTable;
  identities: IdentitiesTable;
  oidc_spent_states: OidcSpentStatesTable;
  server_secrets: ServerSecretsTable;
  link_tokens: LinkTokensTable;
  mail_outbox: MailOutboxTable;
  bootstrapped_admins: BootstrappedAdminsTable;
  mfa_totp: MfaTotpTable;
  mfa_recovery_codes: MfaRecoveryCodesTable;
  passkeys: PasskeysTable;
  mfa_challenges: MfaChallengesTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
export type SigningKeyRow = Selectable<SigningKeysTable>;
export type IdentityRow = Selectable<IdentitiesTable>;
export type PasskeyRow = Selectable<PasskeysTable>;
export type MfaChallengeRow = Selectable<MfaChallengesTable>;
