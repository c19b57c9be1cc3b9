/**
 * Passkeys through the endpoints of SPEC §11 and @simplewebauthn/browser, in one small module: when
 * `@latchkey/client` gains passkey methods, these three functions are the only place to swap.
 */
import {
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  startAuthentication,
  startRegistration,
} from '@simplewebauthn/browser';
import { type Api, type Obj, field, text } from './api.ts';

/** The options of an answer: under `options`, or the answer itself without our own fields. */
function optionsOf<T>(data: Obj | null): T {
  const nested = field(data, 'options');
  if (nested !== undefined && nested !== null && typeof nested === 'object') return nested as unknown as T;
  const { challenge_id: _a, challengeId: _b, ...rest } = (data ?? {}) as Record<string, unknown>;
  return rest as unknown as T;
}

/** Passwordless sign-in with a discoverable credential; the server sets the refresh cookie. */
export async function signInWithPasskey(api: Api): Promise<void> {
  const { data } = await api.anonymous('POST', '/api/auth/passkeys/login/options', {});
  const credential = await startAuthentication({ optionsJSON: optionsOf<PublicKeyCredentialRequestOptionsJSON>(data) });
  await api.anonymous('POST', '/api/auth/passkeys/login', { challenge_id: text(data, 'challenge_id'), credential });
}

/** The passkey as the second step of a sign-in. */
export async function verifyWithPasskey(api: Api, mfaToken: string): Promise<void> {
  const { data } = await api.anonymous('POST', '/api/auth/mfa/passkey/options', { mfa_token: mfaToken });
  const credential = await startAuthentication({ optionsJSON: optionsOf<PublicKeyCredentialRequestOptionsJSON>(data) });
  await api.anonymous('POST', '/api/auth/mfa/verify', { mfa_token: mfaToken, credential });
}

/** Registers a new passkey for the signed-in user. */
export async function addPasskey(api: Api, name: string): Promise<void> {
  const options = await api.call('POST', '/api/auth/passkeys/register/options', {});
  const credential = await startRegistration({ optionsJSON: optionsOf<PublicKeyCredentialCreationOptionsJSON>(options) });
  await api.call('POST', '/api/auth/passkeys/register', name.trim() === '' ? { credential } : { credential, name: name.trim() });
}
