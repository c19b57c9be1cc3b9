/** Signed-in pages, and what every way of signing in does at its end. */
import { useSession } from '@latchkey/client/react';
import { type ReactNode, useEffect } from 'react';
import type { Api } from './api.ts';
import type { UiConfig } from './app-context.ts';
import { destinationOf, isInApp } from './redirect.ts';
import { navigate, useLocation } from './router.tsx';

/** While the session is restored, a notice; without one, the sign-in page, which comes back here afterwards. */
export function RequireSession({ children }: { children: ReactNode }) {
  const session = useSession();
  const { path } = useLocation();
  useEffect(() => {
    if (session.status === 'unauthenticated') navigate(`/ui/login?redirect_to=${encodeURIComponent(path)}`, { replace: true });
  }, [session.status, path]);
  if (session.status !== 'authenticated') return <p role="status">Loading…</p>;
  return <>{children}</>;
}

/** Goes where sign-in should lead: `redirect_to` on an allowed origin (or a page of this app), else the account page. */
export function goToDestination(config: UiConfig, redirectTo: string | null): void {
  const destination = destinationOf(redirectTo, config.allowedRedirects);
  if (isInApp(destination)) navigate(destination, { replace: true });
  else window.location.assign(destination);
}

/** The server set the refresh cookie (password, second step, passkey, link, sign-up): take the session over and move on. */
export async function finishSignIn(api: Api, config: UiConfig, redirectTo: string | null): Promise<void> {
  await api.adoptCookieSession();
  goToDestination(config, redirectTo);
}
