/**
 * React hooks for accounts by email (SPEC §10), on TanStack Query v5, for use inside `AuthProvider`. A successful
 * open sign-up or email verification signs in, which the provider announces like a login.
 *
 * @example
 *   const register = useRegister();
 *   register.mutate({ username, email, password }, { onSuccess: (r) => r.status === 'verification_sent' && showCheckYourMail() });
 *   const verify = useVerifyEmail();  useEffect(() => verify.mutate(tokenFromUrl), []);
 */
import { type UseMutationResult, useMutation, useQueryClient } from '@tanstack/react-query';
import type { ForgotPasswordInput, RegisterInput, RegisterResult } from './accounts.ts';
import type { LoginResult } from './client.ts';
import type { LatchkeyError } from './errors.ts';
import { latchkeyKeys, useAuthClient } from './react.tsx';

export function useRegister(): UseMutationResult<RegisterResult, LatchkeyError, RegisterInput> {
  const client = useAuthClient();
  return useMutation<RegisterResult, LatchkeyError, RegisterInput>({ mutationFn: (input) => client.register(input) });
}

/**
 * Posts a mailed link's token; on success the user is signed in (and `useMe` shows the confirmed address),
 * or, with a second factor, the result is the step to finish (`useVerifySecondStep`), as for `useLogin`.
 */
export function useVerifyEmail(): UseMutationResult<LoginResult, LatchkeyError, string> {
  const client = useAuthClient();
  const queryClient = useQueryClient();
  return useMutation<LoginResult, LatchkeyError, string>({
    mutationFn: (token) => client.verifyEmail(token),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: latchkeyKeys.me }),
  });
}

export function useResendVerification(): UseMutationResult<void, LatchkeyError, string> {
  const client = useAuthClient();
  return useMutation<void, LatchkeyError, string>({ mutationFn: (email) => client.resendVerification(email) });
}

export function useForgotPassword(): UseMutationResult<void, LatchkeyError, ForgotPasswordInput> {
  const client = useAuthClient();
  return useMutation<void, LatchkeyError, ForgotPasswordInput>({ mutationFn: (input) => client.forgotPassword(input) });
}

export function useResetPassword(): UseMutationResult<void, LatchkeyError, { readonly token: string; readonly newPassword: string }> {
  const client = useAuthClient();
  return useMutation<void, LatchkeyError, { readonly token: string; readonly newPassword: string }>({
    mutationFn: ({ token, newPassword }) => client.resetPassword(token, newPassword),
  });
}

export function useChangeEmail(): UseMutationResult<void, LatchkeyError, { readonly newEmail: string; readonly currentPassword: string }> {
  const client = useAuthClient();
  return useMutation<void, LatchkeyError, { readonly newEmail: string; readonly currentPassword: string }>({
    mutationFn: ({ newEmail, currentPassword }) => client.changeEmail(newEmail, currentPassword),
  });
}
