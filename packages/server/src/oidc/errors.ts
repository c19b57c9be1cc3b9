/**
 * Why an OpenID sign-in was refused. Each reason is both the `?error=` code a browser is sent back with
 * and, upper-cased, the envelope's error code; its status and sentences are in the wire contract
 * (`wire/errors.ts`, the `oidc_*` kinds).
 *
 * @example
 *   throw new OidcSignInRefused('email_not_verified');
 */
import { LatchkeyError } from '../errors.ts';
import { FLAT_SENTENCES, type OidcRefusalReason } from '../wire/errors.ts';

export type { OidcRefusalReason } from '../wire/errors.ts';

export class OidcSignInRefused extends LatchkeyError {
  constructor(readonly reason: OidcRefusalReason) {
    super(`oidc_${reason}`, FLAT_SENTENCES[`oidc_${reason}`]);
  }
}
