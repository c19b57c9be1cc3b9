/**
 * `@latchkey/client/react`: the auth client in React, on TanStack Query v5. Put `AuthProvider` inside
 * your `QueryClientProvider`; `onUnauthenticated` is where you send the user to your login page (it
 * runs on logout, in this tab or another, and when a session can no longer be refreshed).
 *
 * @example
 *   <QueryClientProvider client={queryClient}>
 *     <AuthProvider client={auth} onUnauthenticated={() => navigate('/login')}>
 *       <App />
 *     </AuthProvider>
 *   </QueryClientProvider>
 *
 *   const login = useLogin();   login.mutate({ username, password });
 *   const { status, session } = useSession();
 */
import { type UseMutationResult, type UseQueryResult, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type ReactNode, createContext, useContext, useEffect, useRef } from 'react';
import type { AuthClient, AuthSession, LoginCredentials, LoginResult, Me } from './client.ts';
import type { PasskeyInfo, SecondStepRequired } from './mfa.ts';
import { LatchkeyError } from './errors.ts';

const AuthContext = createContext<AuthClient | null>(null);

/** Query keys of this module: invalidate `latchkeyKeys.all` to refetch everything it shows. */
export const latchkeyKeys = {
  all: ['latchkey'] as const,
  session: ['latchkey', 'session'] as const,
  me: ['latchkey', 'me'] as const,
  passkeys: ['latchkey', 'passkeys'] as const,
};

export interface AuthProviderProps {
  readonly client: AuthClient;
  /** Called when the user is (or becomes) signed out: redirect to your login page here. */
  readonly onUnauthenticated?: () => void;
  readonly children?: ReactNode;
}

export function AuthProvider({ client, onUnauthenticated, children }: AuthProviderProps) {
  const queryClient = useQueryClient();
  // The latest callback, without resubscribing when the parent re-renders with a new function.
  const redirect = useRef(onUnauthenticated);
  redirect.current = onUnauthenticated;

  useEffect(
    () =>
      client.onChange((event) => {
        if (event.type === 'unauthenticated') {
          // Whatever was fetched for this user must not be shown to the next one. The session query
          // itself stays (it may be the one in flight that found no session): it is set to null.
          queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== 'latchkey' || query.queryKey[1] !== 'session' });
          queryClient.setQueryData(latchkeyKeys.session, null);
          redirect.current?.();
          return;
        }
        queryClient.setQueryData(latchkeyKeys.session, event.session);
        if (event.type === 'authenticated') void queryClient.invalidateQueries({ queryKey: latchkeyKeys.me });
      }),
    [client, queryClient],
  );
  return <AuthContext.Provider value={client}>{children}</AuthContext.Provider>;
}

/** The client given to {@link AuthProvider}, for `client.fetch` in your own queries. */
export function useAuthClient(): AuthClient {
  const client = useContext(AuthContext);
  if (client === null) throw new Error('useAuthClient: wrap the tree in <AuthProvider client={…}>');
  return client;
}

export type SessionState =
  | { readonly status: 'loading'; readonly session: null }
  | { readonly status: 'authenticated'; readonly session: AuthSession }
  | { readonly status: 'unauthenticated'; readonly session: null };

/**
 * Who is signed in. On first use it restores the session when it can (in cookie mode, from the
 * HttpOnly cookie), so a reloaded page stays signed in.
 */
export function useSession(): SessionState {
  const client = useAuthClient();
  const query = useQuery({
    queryKey: latchkeyKeys.session,
    queryFn: async (): Promise<AuthSession | null> => {
      try {
        await client.getAccessToken();
        return client.session();
      } catch (error) {
        if (error instanceof LatchkeyError && (error.status === 401 || error.status === 400)) return null;
        throw error;
      }
    },
    // Changes arrive through the provider's onChange subscription, not by refetching.
    staleTime: Infinity,
    retry: false,
  });
  if (query.data) return { status: 'authenticated', session: query.data };
  if (query.data === null || query.isError) return { status: 'unauthenticated', session: null };
  return { status: 'loading', session: null };
}

/** The signed-in user from `/api/auth/me`; idle while nobody is signed in. */
export function useMe(): UseQueryResult<Me, LatchkeyError> {
  const client = useAuthClient();
  const { status } = useSession();
  return useQuery<Me, LatchkeyError>({
    queryKey: latchkeyKeys.me,
    queryFn: () => client.me(),
    enabled: status === 'authenticated',
  });
}

/** Signs in; the result may be a second step to finish (`result.mfaRequired`): see {@link useVerifySecondStep}. */
export function useLogin(): UseMutationResult<LoginResult, LatchkeyError, LoginCredentials> {
  const client = useAuthClient();
  return useMutation<LoginResult, LatchkeyError, LoginCredentials>({ mutationFn: (credentials) => client.login(credentials) });
}

/** What finishes a second step: a code from the app, a recovery code, or a passkey. */
export type SecondFactor = { readonly code: string } | { readonly recoveryCode: string } | { readonly passkey: true };

/** Finishes the second step a login answered with. */
export function useVerifySecondStep(): UseMutationResult<
  AuthSession,
  LatchkeyError,
  { step: SecondStepRequired<AuthSession>; factor: SecondFactor }
> {
  return useMutation<AuthSession, LatchkeyError, { step: SecondStepRequired<AuthSession>; factor: SecondFactor }>({
    mutationFn: ({ step, factor }) =>
      'code' in factor
        ? step.verify(factor.code)
        : 'recoveryCode' in factor
          ? step.verifyRecoveryCode(factor.recoveryCode)
          : step.verifyPasskey(),
  });
}

/** Signs in with a passkey, no password (a discoverable credential, or a username's passkeys). */
export function usePasskeyLogin(): UseMutationResult<AuthSession, LatchkeyError, { username?: string } | void> {
  const client = useAuthClient();
  return useMutation<AuthSession, LatchkeyError, { username?: string } | void>({
    mutationFn: (input) => client.passkeys.login(input ? input.username : undefined),
  });
}

/** The signed-in user's passkeys; idle while nobody is signed in. */
export function usePasskeys(): UseQueryResult<PasskeyInfo[], LatchkeyError> {
  const client = useAuthClient();
  const { status } = useSession();
  return useQuery<PasskeyInfo[], LatchkeyError>({
    queryKey: latchkeyKeys.passkeys,
    queryFn: () => client.passkeys.list(),
    enabled: status === 'authenticated',
  });
}

/** Creates a passkey on this device for the signed-in user; the list is refetched. */
export function useRegisterPasskey(): UseMutationResult<PasskeyInfo, LatchkeyError, { name?: string } | void> {
  const client = useAuthClient();
  const queryClient = useQueryClient();
  return useMutation<PasskeyInfo, LatchkeyError, { name?: string } | void>({
    mutationFn: (input) => client.passkeys.register(input ? input.name : undefined),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: latchkeyKeys.passkeys }),
  });
}

export function useLogout(): UseMutationResult<void, LatchkeyError, void> {
  const client = useAuthClient();
  return useMutation<void, LatchkeyError, void>({ mutationFn: () => client.logout() });
}

export type { AuthClient, AuthSession, LoginCredentials, LoginResult, Me } from './client.ts';
export type { PasskeyInfo, SecondStepRequired } from './mfa.ts';
export { LatchkeyError } from './errors.ts';
export {
  useChangeEmail,
  useForgotPassword,
  useRegister,
  useResendVerification,
  useResetPassword,
  useVerifyEmail,
} from './react-accounts.tsx';
export type { ForgotPasswordInput, RegisterInput, RegisterResult } from './accounts.ts';
