/**
 * The answer to a finished or pending sign-in (password, Google/OpenID): a token pair with its cookie, or
 * (SPEC §11) `{mfa_required, mfa_token, methods}` / `{mfa_enrollment_required, token}` with no refresh token
 * and no cookie. Never cached.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IssuedTokens } from '../auth/sessions.ts';
import type { PendingSignIn } from '../mfa/sign-in.ts';
import { type RouteContext, responseMeta, sendTokens } from './context.ts';
import type { View } from './styles/style.ts';

export function isPending(result: IssuedTokens | PendingSignIn): result is PendingSignIn {
  return 'kind' in result;
}

export function sendSignIn(ctx: RouteContext, request: FastifyRequest, reply: FastifyReply, result: IssuedTokens | PendingSignIn): unknown {
  if (!isPending(result)) return sendTokens(ctx, request, reply, result);
  reply.header('cache-control', 'no-store');
  const view: View =
    result.kind === 'mfa_required'
      ? { mfa_required: true, mfa_token: result.mfaToken, methods: [...result.methods] }
      : { mfa_enrollment_required: true, token: result.issued.accessToken };
  return ctx.style.ok(view, responseMeta(request));
}

/** The fragment a browser sign-in redirects with when a second step is due: `mfa_token=…` (or `mfa_enrollment_token=…`). */
export function pendingFragment(pending: PendingSignIn): string {
  return pending.kind === 'mfa_required'
    ? new URLSearchParams({ mfa_token: pending.mfaToken, methods: pending.methods.join(',') }).toString()
    : new URLSearchParams({ mfa_enrollment_token: pending.issued.accessToken }).toString();
}
