/**
 * Passwords inside connection URLs (`postgres://user:secret@host/db`, `redis://:secret@host`) never reach
 * a message, a log line or the terminal: errors name the URL with its password masked instead.
 *
 * @example
 *   urlWithoutPassword('postgres://app:s3cret@db:5432/latchkey'); // 'postgres://app:***@db:5432/latchkey'
 */

const MASK = '***';

/**
 * A URL as it may be shown: its password (and a `password=` query parameter, which libpq also reads)
 * replaced by `***`. Works on malformed URLs too, which is exactly when they get echoed in errors:
 * everything between `://` and the last `@` of the authority is treated as user information.
 */
export function urlWithoutPassword(url: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(url);
  let shown = url;
  if (scheme !== null) {
    const rest = url.slice(scheme[0].length);
    // A password may itself hold `@`, `/` or `?` when it was not percent-encoded: the last `@` before the
    // host wins, and over-masking a malformed URL is better than showing a piece of its password.
    const at = rest.lastIndexOf('@');
    if (at >= 0) {
      const userinfo = rest.slice(0, at);
      const colon = userinfo.indexOf(':');
      if (colon >= 0) shown = `${scheme[0]}${userinfo.slice(0, colon)}:${MASK}${rest.slice(at)}`;
    }
  }
  return shown.replace(/([?&](?:password|pass|pwd)=)[^&#]*/gi, `$1${MASK}`);
}

/** Masks the password of every `scheme://user:password@…` URL inside a free text (an error message). */
export function redactPasswords(text: string): string {
  return text.replace(/[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s"'<>]+/g, (url) => urlWithoutPassword(url));
}
