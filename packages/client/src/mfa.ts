/**
 * Second factors and passkeys in the client (SPEC §11): the second step of a sign-in, TOTP enrolment,
 * passkey registration and sign-in. WebAuthn ceremonies run through `@simplewebauthn/browser` (or the
 * functions given as `webauthn`, e.g. a software authenticator in tests).
 *
 * @example
 *   const result = await auth.login({ username, password });
 *   if (result.mfaRequired) await result.verify(prompt('Code from your app'));
 *   await auth.passkeys.register('Laptop');
 *   await auth.passkeys.login();   // passwordless
 */
import { startAuthentication, startRegistration } from '@simplewebauthn/browser';
import { errorOfResponse } from './errors.ts';

export type MfaMethod = 'totp' | 'recovery_code' | 'passkey';

/** The browser side of WebAuthn: `@simplewebauthn/browser` by default. */
export interface WebAuthnCeremonies {
  startRegistration(options: { optionsJSON: never }): Promise<unknown>;
  startAuthentication(options: { optionsJSON: never }): Promise<unknown>;
}

export const browserCeremonies: WebAuthnCeremonies = {
  startRegistration: (options) => startRegistration(options),
  startAuthentication: (options) => startAuthentication(options),
};

/** A sign-in waiting for its second factor (the password or Google step is done). */
export interface SecondStepRequired<S> {
  readonly mfaRequired: true;
  readonly mfaEnrollmentRequired?: false;
  /** The methods this user can finish with. */
  readonly methods: readonly MfaMethod[];
  /** Lives 5 minutes; five wrong codes end it. */
  readonly mfaToken: string;
  /** Finishes with a code from the authenticator app. */
  verify(code: string): Promise<S>;
  /** Finishes with one of the recovery codes (each works once). */
  verifyRecoveryCode(code: string): Promise<S>;
  /** Finishes with a passkey (browser). */
  verifyPasskey(): Promise<S>;
}

/** The policy (LATCHKEY_MFA) requires a factor this user has not enrolled: `token` reaches only the enrolment endpoints. */
export interface EnrollmentRequired {
  readonly mfaRequired?: false;
  readonly mfaEnrollmentRequired: true;
  readonly token: string;
}

export interface PasskeyInfo {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
}

export interface MfaDeps<S> {
  readonly style: 'flat' | 'envelope';
  /** A call to Latchkey (no Bearer). */
  call(path: string, init: RequestInit): Promise<Response>;
  /** A call to Latchkey with the current access token (or `token` when given). */
  authCall(path: string, init: RequestInit, token?: string): Promise<Response>;
  /** Keeps the session of a token response and announces it, like a login. */
  signedIn(response: Response): Promise<S>;
  readonly webauthn: WebAuthnCeremonies;
}

function json(body: unknown): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

async function dataOf(response: Response, style: 'flat' | 'envelope'): Promise<Record<string, unknown>> {
  if (!response.ok) throw await errorOfResponse(response);
  const body = (await response.json()) as Record<string, unknown>;
  return (style === 'envelope' ? body.data : body) as Record<string, unknown>;
}

function isoInstant(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'number' ? new Date(value * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') : String(value);
}

function passkeyOf(item: Record<string, unknown>): PasskeyInfo {
  return {
    id: item.id as string,
    name: item.name as string,
    createdAt: isoInstant(item.created_at ?? item.createdAt) as string,
    lastUsedAt: isoInstant(item.last_used_at ?? item.lastUsedAt),
  };
}

/** The second step of a sign-in from its `mfa_token` (a login answer, or Google's `#mfa_token=…` redirect). */
export function secondStep<S>(deps: MfaDeps<S>, mfaToken: string, methods: readonly MfaMethod[]): SecondStepRequired<S> {
  const finish = async (body: Record<string, unknown>): Promise<S> => {
    const response = await deps.call('/api/auth/mfa/verify', json({ mfa_token: mfaToken, ...body }));
    if (!response.ok) throw await errorOfResponse(response);
    return deps.signedIn(response);
  };
  return {
    mfaRequired: true,
    methods,
    mfaToken,
    verify: (code) => finish({ code }),
    verifyRecoveryCode: (code) => finish({ recovery_code: code }),
    async verifyPasskey() {
      const options = await dataOf(await deps.call('/api/auth/mfa/passkey/options', json({ mfa_token: mfaToken })), deps.style);
      const credential = await deps.webauthn.startAuthentication({ optionsJSON: options as never });
      return finish({ credential });
    },
  };
}

/** What a login (or Google sign-in) answer means: signed in, a second step, or enrolment first. */
export async function loginOutcome<S>(deps: MfaDeps<S>, response: Response): Promise<S | SecondStepRequired<S> | EnrollmentRequired> {
  const data = await dataOf(response.clone(), deps.style);
  if (data.mfa_required === true || data.mfaRequired === true) {
    return secondStep(deps, (data.mfa_token ?? data.mfaToken) as string, data.methods as MfaMethod[]);
  }
  if (data.mfa_enrollment_required === true || data.mfaEnrollmentRequired === true) {
    return { mfaEnrollmentRequired: true, token: data.token as string };
  }
  return deps.signedIn(response);
}

/** TOTP and recovery codes of the signed-in user (`token`: an enrolment-only token, when that is what you have). */
export function totpApi<S>(deps: MfaDeps<S>) {
  return {
    /** Starts enrolment: a secret and its `otpauth://` URI (show it as a QR code). */
    async enroll(currentPassword: string, token?: string): Promise<{ secret: string; otpauthUri: string }> {
      const data = await dataOf(await deps.authCall('/api/auth/mfa/totp', json({ current_password: currentPassword }), token), deps.style);
      return { secret: data.secret as string, otpauthUri: (data.otpauth_uri ?? data.otpauthUri) as string };
    },
    /** Confirms with a first code; the ten recovery codes, to show once. */
    async confirm(code: string, token?: string): Promise<string[]> {
      const data = await dataOf(await deps.authCall('/api/auth/mfa/totp/confirm', json({ code }), token), deps.style);
      return (data.recovery_codes ?? data.recoveryCodes) as string[];
    },
    async disable(proof: { currentPassword: string } | { code: string }): Promise<void> {
      const body = 'code' in proof ? { code: proof.code } : { current_password: proof.currentPassword };
      const response = await deps.authCall('/api/auth/mfa/totp', { ...json(body), method: 'DELETE' });
      if (!response.ok) throw await errorOfResponse(response);
    },
    async newRecoveryCodes(code: string): Promise<string[]> {
      const data = await dataOf(await deps.authCall('/api/auth/mfa/recovery-codes', json({ code })), deps.style);
      return (data.recovery_codes ?? data.recoveryCodes) as string[];
    },
  };
}

export function passkeyApi<S>(deps: MfaDeps<S>) {
  return {
    /** Creates a passkey on this device for the signed-in user. */
    async register(name?: string, token?: string): Promise<PasskeyInfo> {
      const options = await dataOf(await deps.authCall('/api/auth/passkeys/register/options', { method: 'POST' }, token), deps.style);
      const credential = await deps.webauthn.startRegistration({ optionsJSON: options as never });
      const response = await deps.authCall(
        '/api/auth/passkeys/register',
        json({ credential, ...(name === undefined ? {} : { name }) }),
        token,
      );
      return passkeyOf(await dataOf(response, deps.style));
    },
    /** Signs in with a passkey, no password: a discoverable credential, or `username`'s passkeys. */
    async login(username?: string): Promise<S> {
      const data = await dataOf(
        await deps.call('/api/auth/passkeys/login/options', json(username === undefined ? {} : { username })),
        deps.style,
      );
      const { challenge_id, challengeId, ...options } = data;
      const credential = await deps.webauthn.startAuthentication({ optionsJSON: options as never });
      const response = await deps.call('/api/auth/passkeys/login', json({ challenge_id: challenge_id ?? challengeId, credential }));
      if (!response.ok) throw await errorOfResponse(response);
      return deps.signedIn(response);
    },
    async list(): Promise<PasskeyInfo[]> {
      const response = await deps.authCall('/api/auth/passkeys', { method: 'GET' });
      if (!response.ok) throw await errorOfResponse(response);
      const body = (await response.json()) as { data?: unknown; items?: unknown };
      return ((deps.style === 'envelope' ? body.data : body.items) as Record<string, unknown>[]).map(passkeyOf);
    },
    async rename(id: string, name: string): Promise<PasskeyInfo> {
      const response = await deps.authCall(`/api/auth/passkeys/${encodeURIComponent(id)}`, { ...json({ name }), method: 'PATCH' });
      return passkeyOf(await dataOf(response, deps.style));
    },
    async remove(id: string): Promise<void> {
      const response = await deps.authCall(`/api/auth/passkeys/${encodeURIComponent(id)}`, { method: 'DELETE' });
      if (!response.ok) throw await errorOfResponse(response);
    },
  };
}
