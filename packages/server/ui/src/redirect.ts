/**
 * Where a page goes after sign-in (SPEC §12): `redirect_to` when it is a page of this app or on an origin
 * in LATCHKEY_ALLOWED_REDIRECTS, else /ui/account. Anything else (another host, `javascript:`, `//evil`)
 * is ignored, so a crafted link cannot send a freshly signed-in user to a phishing page.
 */
export function destinationOf(redirectTo: string | null, allowedOrigins: readonly string[]): string {
  const fallback = '/ui/account';
  if (redirectTo === null || redirectTo === '') return fallback;
  // A path of this app: one leading slash only (`//host` would be another origin).
  if (/^\/ui\/[^/\\]/.test(redirectTo) || redirectTo === '/ui/') return redirectTo.startsWith('/ui/login') ? fallback : redirectTo;
  let url: URL;
  try {
    url = new URL(redirectTo);
  } catch {
    return fallback;
  }
  if ((url.protocol === 'https:' || url.protocol === 'http:') && allowedOrigins.includes(url.origin)) return url.href;
  return fallback;
}

/** Follows a destination: in-app paths without a reload, allowed origins with one. */
export function isInApp(destination: string): boolean {
  return destination.startsWith('/ui/');
}
