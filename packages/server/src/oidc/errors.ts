/**
 * Why an OpenID sign-in was refused. Each reason is both the `?error=` code a browser is sent back with
 * and, upper-cased, the envelope's error code; the status is what an API caller gets.
 *
 * @example
 *   throw new OidcSignInRefused('email_not_verified');
 */
import { LatchkeyError } from '../errors.ts';

const REASONS = {
  redirect_not_allowed: { status: 400, message: 'redirect_to is not an allowed origin' },
  invalid_state: { status: 400, message: 'the sign-in state is missing, expired, already used or does not match' },
  access_denied: { status: 401, message: 'the identity provider did not grant access' },
  // Vega AI's wording for a refused code, which its browser extension shows.
  invalid_grant: { status: 401, message: 'failed to exchange code for JWT' },
  invalid_id_token: { status: 401, message: 'invalid id token' },
  email_not_verified: { status: 403, message: 'the identity provider has not verified the email address' },
  domain_not_allowed: { status: 403, message: "the account's domain is not allowed" },
  signup_disabled: { status: 403, message: 'no account is linked to this identity' },
  account_disabled: { status: 403, message: 'the account is disabled' },
  provider_unavailable: { status: 503, message: 'the identity provider could not be reached' },
} as const;

export type OidcRefusalReason = keyof typeof REASONS;

export class OidcSignInRefused extends LatchkeyError {
  readonly code: string;
  readonly status: number;
  constructor(readonly reason: OidcRefusalReason) {
    super(REASONS[reason].message);
    this.code = reason.toUpperCase();
    this.status = REASONS[reason].status;
  }
}
