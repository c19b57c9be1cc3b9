/**
 * What a person reads when something fails: one sentence per error of SPEC §5, §10 and §11, the same in
 * both wire styles (the code decides; the server's own sentence is the fallback).
 */
import { LatchkeyError } from '@latchkey/client';
import { ApiError } from './api.ts';

function sentence(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '') return 'Something went wrong. Please try again.';
  const capital = trimmed[0]!.toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** `new_password` and `newPassword` both read as "new password". */
function words(text: string): string {
  return text
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/_/g, ' ')
    .replace(/^(\S+ \S+)/, (m) => m.toLowerCase());
}

/** `context` says which token an INVALID_TOKEN is about: a link in mail, or the second step of a sign-in. */
export function describeError(error: unknown, context: 'link' | 'mfa' | 'default' = 'default'): string {
  if (!(error instanceof LatchkeyError))
    return error instanceof Error && error.name === 'NotAllowedError'
      ? 'The passkey request was cancelled or timed out.'
      : 'Something went wrong. Please try again.';
  if (error.status === 0) return 'The server cannot be reached. Check your connection and try again.';
  switch (error.code) {
    case 'INVALID_CREDENTIALS':
      return 'Wrong username or password.';
    case 'RATE_LIMITED': {
      const wait =
        error instanceof ApiError && error.retryAfter !== undefined ? ` Try again in ${error.retryAfter} seconds.` : ' Try again later.';
      return `Too many attempts.${wait}`;
    }
    case 'EMAIL_NOT_VERIFIED':
      return 'Confirm your email address first: follow the link we sent you, or ask for a new one below.';
    case 'SIGNUP_DISABLED':
      return 'Sign-up is turned off on this server.';
    case 'INVALID_TOKEN':
      return context === 'mfa'
        ? 'This sign-in took too long or had too many wrong codes. Sign in again.'
        : 'This link is invalid or has expired. Ask for a new one.';
    case 'INVALID_CODE':
      return 'That code is not right. Check your authenticator app and try again.';
    case 'INVALID_REFRESH_TOKEN':
    case 'UNAUTHORIZED':
      return 'Your session has ended. Sign in again.';
    case 'FORBIDDEN':
      return error.message === 'forbidden' || error.message === '' || error.message === 'Forbidden'
        ? 'You are not allowed to do that.'
        : sentence(error.message);
    case 'NOT_FOUND':
      return 'This server does not offer that.';
    case 'SERVICE_UNAVAILABLE':
      return 'The server is not ready. Try again in a moment.';
    case 'INTERNAL_ERROR':
      return 'The server failed. Try again, and tell your administrator if it keeps happening.';
    case 'VALIDATION_ERROR': {
      const details = error.details?.map((d) => (d.field === 'body' ? d.message : `${words(d.field)} ${d.message}`)).join('; ');
      if (details) return sentence(details);
      return error.message === 'invalid request body' ? 'Please check what you typed.' : sentence(words(error.message));
    }
    default:
      return sentence(error.message);
  }
}
