/**
 * Accounts by email (Latchkey SPEC §10) for `@latchkey/client`: sign-up, email verification and resend,
 * forgotten password and reset, email change. Errors are {@link LatchkeyError}s, as for `login`.
 *
 * @example
 *   const result = await auth.register({ username: 'ada', email: 'ada@example.com', password });
 *   if (result.status === 'verification_sent') showCheckYourMail();
 *   // on the page the mailed link opens:
 *   const signedIn = await auth.verifyEmail(new URLSearchParams(location.search).get('token') ?? '');
 *   if (signedIn.mfaRequired) await signedIn.verify(prompt('Code from your app') ?? '');
 */
import type { AuthSession, LoginResult, WireStyle } from './client.ts';
import { errorOfResponse } from './errors.ts';

export interface RegisterInput {
  readonly username: string;
  readonly email: string;
  readonly password: string;
}

/** `open` sign-up signs in at once; `verify` sign-up mails a link (the same answer for a known address). */
export type RegisterResult = { readonly status: 'signed_in'; readonly session: AuthSession } | { readonly status: 'verification_sent' };

export type ForgotPasswordInput = { readonly email: string } | { readonly username: string };

export interface AccountMethods {
  /** `POST /api/auth/register`. */
  register(input: RegisterInput): Promise<RegisterResult>;
  /**
   * `POST /api/auth/email/verify`: confirms the address of a sign-up or an email change and signs in, as
   * `login` does: a user with a second factor gets `{ mfaRequired: true, verify(code) … }` to finish.
   */
  verifyEmail(token: string): Promise<LoginResult>;
  /** `POST /api/auth/email/resend`: resolves alike whether or not the address has an unconfirmed account. */
  resendVerification(email: string): Promise<void>;
  /** `POST /api/auth/password/forgot`: resolves alike whether or not the user exists. */
  forgotPassword(input: ForgotPasswordInput): Promise<void>;
  /** `POST /api/auth/password/reset`: every session of the user ends, this client's included. */
  resetPassword(token: string, newPassword: string): Promise<void>;
  /** `POST /api/auth/email/change` (signed in): the new address gets a link; the change happens on {@link verifyEmail}. */
  changeEmail(newEmail: string, currentPassword: string): Promise<void>;
}

export interface AccountDeps {
  readonly style: WireStyle;
  /** A call to Latchkey (base URL, credentials, network errors handled). */
  call(path: string, init: RequestInit): Promise<Response>;
  /** An authenticated call (Bearer, refresh on 401). */
  authFetch(path: string, init: RequestInit): Promise<Response>;
  /** Keeps the tokens of a login-shaped response and announces the sign-in. */
  signIn(response: Response): Promise<AuthSession>;
  /** What a login-shaped response means: signed in, a second step to take, or a factor to enrol first. */
  loginOutcome(response: Response): Promise<LoginResult>;
  /** Forgets the local session (a reset ended every session). */
  forget(): void;
}

export function accountMethods(deps: AccountDeps): AccountMethods {
  const { style } = deps;
  /** The field names of the deployment's style (the server accepts both; this keeps each style's contract). */
  const key = (snake: string): string => (style === 'flat' ? snake : snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));
  const json = (body: Record<string, string>): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const send = async (path: string, body: Record<string, string>): Promise<Response> => {
    const response = await deps.call(path, json(body));
    if (!response.ok) throw await errorOfResponse(response);
    return response;
  };

  return {
    async register(input) {
      const response = await send('/api/auth/register', { username: input.username, email: input.email, password: input.password });
      if (response.status === 201) return { status: 'signed_in', session: await deps.signIn(response) };
      await response.body?.cancel();
      return { status: 'verification_sent' };
    },

    async verifyEmail(token) {
      return deps.loginOutcome(await send('/api/auth/email/verify', { token }));
    },

    async resendVerification(email) {
      await (await send('/api/auth/email/resend', { email })).body?.cancel();
    },

    async forgotPassword(input) {
      await (
        await send('/api/auth/password/forgot', 'email' in input ? { email: input.email } : { username: input.username })
      ).body?.cancel();
    },

    async resetPassword(token, newPassword) {
      await send('/api/auth/password/reset', { token, [key('new_password')]: newPassword });
      // Every session of the user was revoked; if this client held one of them, it is over.
      deps.forget();
    },

    async changeEmail(newEmail, currentPassword) {
      const response = await deps.authFetch(
        '/api/auth/email/change',
        json({ [key('new_email')]: newEmail, [key('current_password')]: currentPassword }),
      );
      if (!response.ok) throw await errorOfResponse(response);
      await response.body?.cancel();
    },
  };
}
