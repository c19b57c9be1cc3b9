/**
 * A Latchkey client for browsers and Node 20: logs in, keeps the tokens, refreshes them shortly
 * before they expire (one refresh at a time, across tabs too), and adds the Bearer header to your
 * API calls.
 *
 * @example
 *   const auth = createAuthClient({ baseUrl: 'https://auth.example.com', storage: 'cookie' });
 *   await auth.login({ username: 'ada', password });
 *   const jobs = await (await auth.fetch('https://api.example.com/api/jobs')).json();
 */
import { type AccountMethods, accountMethods } from './accounts.ts';
import { LatchkeyError, errorOfResponse, networkError, refusesAccessToken } from './errors.ts';
import { SESSION_KEY, type StorageOption, type StoredSession, type TokenStorage, readSession, resolveStorage } from './storage.ts';
import { type TabMessage, TabCoordinator } from './tabs.ts';
import {
  type EnrollmentRequired,
  type MfaDeps,
  type MfaMethod,
  type SecondStepRequired,
  type WebAuthnCeremonies,
  browserCeremonies,
  loginOutcome,
  passkeyApi,
  secondStep,
  totpApi,
} from './mfa.ts';

export type WireStyle = 'flat' | 'envelope';
export type Role = 'ADMIN' | 'STANDARD';

export interface AuthClientOptions {
  /** Latchkey's origin (and path prefix, if any), e.g. `https://auth.example.com`. */
  readonly baseUrl: string;
  /** The deployment's LATCHKEY_API_STYLE. Default `flat`. */
  readonly style?: WireStyle;
  /** Default `memory`. See {@link StorageOption}. */
  readonly storage?: StorageOption;
  /** The fetch to use (a Node cookie jar, an instrumented fetch). Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch;
  /** The client's clock in ms. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Coordinate with the other tabs of this origin (one refresh at a time, logout everywhere): `true`,
   * `false`, or a channel name. Default: on in browsers with `local` or `cookie` storage, where the
   * tabs share one session.
   */
  readonly crossTab?: boolean | string;
  /** The WebAuthn ceremonies for passkeys. Default `@simplewebauthn/browser`. */
  readonly webauthn?: WebAuthnCeremonies;
}

/** What a page may know of the session: who, until when. Never the refresh token. */
export interface AuthSession {
  readonly user: { readonly id: number; readonly username: string; readonly role: Role };
  /** The session id (`sid`). */
  readonly sessionId: string;
  /** When the access token expires, on the client's clock (ms). */
  readonly expiresAt: number;
  /** RFC 8176 methods of the sign-in (`pwd`, `otp`, `hwk`, `user`, `fed`). */
  readonly amr: readonly string[];
  /** Never set on a session: lets `if (result.mfaRequired)` tell a {@link LoginResult} apart. */
  readonly mfaRequired?: false;
  readonly mfaEnrollmentRequired?: false;
}

/** What `login` resolves to: a session, or (SPEC §11) a second step to finish, or a factor to enrol first. */
export type LoginResult = AuthSession | SecondStepRequired<AuthSession> | EnrollmentRequired;

export type AuthEventType = 'authenticated' | 'refreshed' | 'unauthenticated';

export interface AuthEvent {
  readonly type: AuthEventType;
  /** The session after the event; null for `unauthenticated`. */
  readonly session: AuthSession | null;
}

export type LoginCredentials = ({ readonly username: string } | { readonly email: string }) & { readonly password: string };

/** A user as `/api/auth/me` shows one, in the same shape whatever the style. */
export interface Me {
  readonly id: number;
  readonly username: string;
  readonly email: string | null;
  readonly role: Role;
  readonly createdAt: string;
  readonly lastLoginAt: string | null;
  /** Whether the address is confirmed (SPEC §10). */
  readonly emailVerified: boolean;
}

/** One of the user's sessions as `/api/auth/sessions` lists them, in the same shape whatever the style. */
export interface SessionInfo {
  readonly id: string;
  readonly createdAt: string;
  readonly lastUsedAt: string;
  readonly expiresAt: string | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly current: boolean;
}

export interface AuthClient extends AccountMethods {
  /** Signs in; a user with a second factor gets `{ mfaRequired: true, methods, verify(code) … }` to finish. */
  login(credentials: LoginCredentials): Promise<LoginResult>;
  /** The second step of a sign-in that began elsewhere (Google's redirect carries `#mfa_token=…&methods=…`). */
  secondStep(mfaToken: string, methods: readonly MfaMethod[]): SecondStepRequired<AuthSession>;
  /** TOTP enrolment and removal, recovery codes. */
  readonly totp: ReturnType<typeof totpApi<AuthSession>>;
  /** Passkey registration, the user's passkeys, and passwordless sign-in. */
  readonly passkeys: ReturnType<typeof passkeyApi<AuthSession>>;
  /** Ends the session on the server and here (also in the other tabs). Resolves even if the session had already ended. */
  logout(): Promise<void>;
  /**
   * Rotates the refresh token now; concurrent callers share one refresh. With `rejectedToken` (an
   * access token a server just refused), no refresh happens if that token has been replaced already.
   */
  refresh(rejectedToken?: string): Promise<AuthSession>;
  /** A valid access token, refreshed first when less than max(30 s, 10 % of its lifetime) is left. */
  getAccessToken(): Promise<string>;
  /** `fetch` with the Bearer header; after a 401, refreshes once and retries, then reports `unauthenticated`. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  onChange(listener: (event: AuthEvent) => void): () => void;
  /** The current session, as far as this client knows, without a network call. */
  session(): AuthSession | null;
  /** Forgets the session here (and in the other tabs) without calling the server; emits `unauthenticated`. */
  reset(): void;
  me(): Promise<Me>;
  sessions(): Promise<SessionInfo[]>;
  readonly style: WireStyle;
  /** Stops listening to other tabs. */
  close(): void;
}

/** Refresh (docs/client.md) when less than max(30 s, 10 % of the lifetime) is left. */
const MIN_REFRESH_MARGIN_MS = 30_000;

function decodePayload(token: string): Record<string, unknown> {
  const part = token.split('.')[1] ?? '';
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (part.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
}

function publicSession(stored: StoredSession): AuthSession {
  const claims = decodePayload(stored.accessToken);
  return {
    user: { id: claims.user_id as number, username: claims.username as string, role: claims.role as Role },
    sessionId: claims.sid as string,
    expiresAt: stored.expiresAt,
    amr: Array.isArray(claims.amr) ? (claims.amr as string[]) : [],
  };
}

function camelKeys(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]));
}

/** A flat instant (Unix seconds) or an envelope one (ISO string), as an ISO string. */
function isoInstant(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'number' ? new Date(value * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') : String(value);
}

export function createAuthClient(options: AuthClientOptions): AuthClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const style: WireStyle = options.style ?? 'flat';
  const cookieMode = options.storage === 'cookie';
  const storage: TokenStorage = resolveStorage(options.storage);
  const now = options.now ?? (() => Date.now());
  const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const listeners = new Set<(event: AuthEvent) => void>();
  // Cookie mode needs the cookie on Latchkey's own endpoints, also from another origin (CORS with credentials).
  const credentials: RequestCredentials = cookieMode ? 'include' : 'same-origin';
  let inflight: Promise<StoredSession> | undefined;

  const sharedSession = options.storage === 'local' || cookieMode;
  const inBrowser = typeof (globalThis as { window?: unknown }).window !== 'undefined';
  const crossTab = options.crossTab ?? (inBrowser && sharedSession);
  const tabs =
    crossTab !== false && typeof BroadcastChannel !== 'undefined'
      ? new TabCoordinator(typeof crossTab === 'string' ? crossTab : `latchkey:${baseUrl}`, onTabMessage)
      : undefined;

  /** Whether this client last told its listeners that it is authenticated. */
  let authenticated = readSession(storage) !== null;
  /**
   * Bumped whenever the session is forgotten (logout, reset, a failed refresh, a logout in another tab): a
   * rotation that was already on the wire belongs to the ended session and must not bring it back.
   */
  let sessionGeneration = 0;

  function emit(type: AuthEventType, stored: StoredSession | null): void {
    authenticated = stored !== null;
    const event: AuthEvent = { type, session: stored === null ? null : publicSession(stored) };
    for (const listener of [...listeners]) listener(event);
  }

  function store(stored: StoredSession): void {
    storage.set(SESSION_KEY, JSON.stringify(stored));
  }

  /** Forgets the session here and tells the other tabs. */
  function clear(): void {
    const had = readSession(storage) !== null;
    sessionGeneration += 1;
    storage.remove(SESSION_KEY);
    if (had) tabs?.post({ type: 'unauthenticated' });
    // Cookie mode: a failed restore (no cookie) is news too, so that a page can show its login form.
    if (had || authenticated || cookieMode) emit('unauthenticated', null);
  }

  function onTabMessage(message: TabMessage): void {
    if (message.type === 'session') {
      // Shared (local) storage already holds what the other tab wrote, refresh token included; the
      // message never carries a refresh token.
      if (options.storage !== 'local') store(message.session);
      emit(authenticated ? 'refreshed' : 'authenticated', readSession(storage));
    } else if (message.type === 'unauthenticated') {
      sessionGeneration += 1;
      storage.remove(SESSION_KEY);
      if (authenticated) emit('unauthenticated', null);
    }
  }

  /** Without the refresh token: it never travels between tabs. */
  function forTabs(stored: StoredSession): StoredSession {
    const { refreshToken: _omitted, ...rest } = stored;
    return rest;
  }

  async function call(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetchImpl(baseUrl + path, { ...init, credentials });
    } catch (error) {
      throw networkError(error);
    }
  }

  /** A login or refresh response → what the client keeps. */
  async function sessionOf(response: Response): Promise<StoredSession> {
    const body = (await response.json()) as Record<string, unknown>;
    const data = (style === 'envelope' ? body.data : body) as Record<string, unknown>;
    const accessToken = data.token as string;
    const refreshToken = (data.refresh_token ?? data.refreshToken) as string | undefined;
    const claims = decodePayload(accessToken);
    // The lifetime, not the server's absolute expiry: the client's clock may be off by minutes.
    const lifetimeMs = ((claims.exp as number) - (claims.iat as number)) * 1000;
    return {
      accessToken,
      ...(cookieMode || refreshToken === undefined ? {} : { refreshToken }),
      expiresAt: now() + lifetimeMs,
      lifetimeMs,
    };
  }

  function needsRefresh(stored: StoredSession): boolean {
    return stored.expiresAt - now() < Math.max(MIN_REFRESH_MARGIN_MS, stored.lifetimeMs / 10);
  }

  async function rotate(): Promise<StoredSession> {
    const generation = sessionGeneration;
    const current = readSession(storage);
    let body: string | undefined;
    if (!cookieMode) {
      if (current?.refreshToken === undefined) {
        clear();
        throw new LatchkeyError(401, 'UNAUTHORIZED', 'not logged in');
      }
      body = JSON.stringify(style === 'flat' ? { refresh_token: current.refreshToken } : { refreshToken: current.refreshToken });
    }
    // Cookie mode sends no body: the browser sends the HttpOnly cookie.
    const response = await call('/api/auth/refresh', {
      method: 'POST',
      ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
    });
    if (!response.ok) {
      const error = await errorOfResponse(response);
      // 401 (and 400 from servers older than issue 15) in cookie mode means "no cookie": no session to restore.
      // 5xx and 429 are passing troubles: keep the session.
      if (response.status === 401 || response.status === 400) clear();
      throw error;
    }
    const next = await sessionOf(response);
    // The session was forgotten while the request was out (a logout revoked it on the server): storing the
    // answer would show a signed-out user as signed in again, with a revoked refresh token in storage.
    if (generation !== sessionGeneration) throw new LatchkeyError(401, 'UNAUTHORIZED', 'not logged in');
    store(next);
    tabs?.post({ type: 'session', reason: 'refreshed', session: forTabs(next) });
    // A restored session (a reloaded page in cookie mode) is news of a sign-in to this page's listeners.
    emit(authenticated ? 'refreshed' : 'authenticated', next);
    return next;
  }

  /**
   * One refresh for every concurrent caller, here and in other tabs. `replacing` is the access token
   * the caller found wanting: if it has been replaced meanwhile, the replacement is the answer.
   */
  function refreshShared(replacing: string | undefined): Promise<StoredSession> {
    // A 401 that arrives after a shared refresh has finished names a token that is already replaced: the
    // replacement is the answer, not a second rotation (with or without Web Locks).
    if (inflight === undefined && replacing !== undefined) {
      const current = readSession(storage);
      if (current !== null && current.accessToken !== replacing) return Promise.resolve(current);
    }
    inflight ??= (async () => {
      try {
        const settled = () => {
          const current = readSession(storage);
          return current !== null && current.accessToken !== replacing ? current : undefined;
        };
        return tabs ? await tabs.exclusive(rotate, settled) : await rotate();
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  }

  async function getAccessToken(): Promise<string> {
    const stored = readSession(storage);
    if (stored !== null && !needsRefresh(stored)) return stored.accessToken;
    if (stored === null && !cookieMode) throw new LatchkeyError(401, 'UNAUTHORIZED', 'not logged in');
    // In cookie mode a page without a token may still have a session: the cookie restores it.
    return (await refreshShared(stored?.accessToken)).accessToken;
  }

  async function authFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const request = new Request(input, init);
    // A body can be read once: keep a copy for the retry.
    const spare = request.clone();
    const token = await getAccessToken();
    let response: Response;
    try {
      response = await fetchImpl(authorized(request, token));
    } catch (error) {
      throw networkError(error);
    }
    // Only a 401 about the token itself means "refresh and retry"; a 401 that refuses something the user typed
    // (a wrong TOTP code on a signed-in request) is the answer, and must not end the session.
    if (response.status !== 401 || !(await refusesToken(response))) return response;
    let fresh: StoredSession;
    try {
      fresh = await refreshShared(token);
    } catch (error) {
      if (error instanceof LatchkeyError && (error.status === 401 || error.status === 400)) return response;
      throw error;
    }
    try {
      response = await fetchImpl(authorized(spare, fresh.accessToken));
    } catch (error) {
      throw networkError(error);
    }
    // A brand-new token refused too: this session cannot be used here; the user must sign in again.
    if (response.status === 401 && (await refusesToken(response))) clear();
    return response;
  }

  /** Whether a 401 refuses the access token (missing, malformed, bad, expired, revoked), in either wire style. */
  async function refusesToken(response: Response): Promise<boolean> {
    let body: unknown;
    try {
      body = await response.clone().json();
    } catch {
      return true; // No JSON body: nothing says it is about anything but the token.
    }
    return refusesAccessToken(body);
  }

  function authorized(request: Request, token: string): Request {
    const headers = new Headers(request.headers);
    headers.set('authorization', `Bearer ${token}`);
    return new Request(request, { headers });
  }

  /** Keeps the tokens of a login-shaped response (login, second step, passkey, open sign-up, email verification) and announces it. */
  async function signedIn(response: Response): Promise<AuthSession> {
    const stored = await sessionOf(response);
    store(stored);
    tabs?.post({ type: 'session', reason: 'authenticated', session: forTabs(stored) });
    emit('authenticated', stored);
    return publicSession(stored);
  }

  const mfaDeps: MfaDeps<AuthSession> = {
    style,
    call,
    async authCall(path, init, token) {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${token ?? (await getAccessToken())}`);
      return call(path, { ...init, headers });
    },
    signedIn,
    webauthn: options.webauthn ?? browserCeremonies,
  };

  return {
    style,
    async login(credentials) {
      const response = await call('/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(credentials),
      });
      if (!response.ok) throw await errorOfResponse(response);
      return loginOutcome(mfaDeps, response);
    },

    secondStep: (mfaToken, methods) => secondStep(mfaDeps, mfaToken, methods),
    totp: totpApi(mfaDeps),
    passkeys: passkeyApi(mfaDeps),

    ...accountMethods({
      style,
      call,
      authFetch: (path, init) => authFetch(baseUrl + path, { ...init, credentials }),
      signIn: signedIn,
      loginOutcome: (response) => loginOutcome(mfaDeps, response),
      forget: clear,
    }),

    async logout() {
      const stored = readSession(storage);
      let failure: LatchkeyError | undefined;
      try {
        const body =
          stored?.refreshToken === undefined
            ? undefined
            : JSON.stringify(style === 'flat' ? { refresh_token: stored.refreshToken } : { refreshToken: stored.refreshToken });
        // The Bearer token names the session; the refresh token (body or cookie) does when the access token has expired.
        const response = await call('/api/auth/logout', {
          method: 'POST',
          headers: {
            ...(stored === null ? {} : { authorization: `Bearer ${stored.accessToken}` }),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body }),
        });
        // 401: the session had already ended. Either way it is over.
        if (!response.ok && response.status !== 401) failure = await errorOfResponse(response);
      } catch (error) {
        failure = error instanceof LatchkeyError ? error : networkError(error);
      }
      clear();
      if (failure) throw failure;
    },

    async refresh(rejectedToken) {
      return publicSession(await refreshShared(rejectedToken ?? readSession(storage)?.accessToken));
    },

    reset: clear,

    getAccessToken,

    fetch: authFetch,

    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },

    session() {
      const stored = readSession(storage);
      return stored === null ? null : publicSession(stored);
    },

    async me() {
      const response = await authFetch(baseUrl + '/api/auth/me', { credentials });
      if (!response.ok) throw await errorOfResponse(response);
      const body = (await response.json()) as Record<string, unknown>;
      const user = camelKeys((style === 'envelope' ? body.data : body) as Record<string, unknown>);
      return { ...user, createdAt: isoInstant(user.createdAt), lastLoginAt: isoInstant(user.lastLoginAt) } as unknown as Me;
    },

    async sessions() {
      const response = await authFetch(baseUrl + '/api/auth/sessions', { credentials });
      if (!response.ok) throw await errorOfResponse(response);
      const body = (await response.json()) as { data?: unknown; items?: unknown };
      const items = (style === 'envelope' ? body.data : body.items) as Record<string, unknown>[];
      return items.map((item) => {
        const s = camelKeys(item);
        return {
          ...s,
          createdAt: isoInstant(s.createdAt),
          lastUsedAt: isoInstant(s.lastUsedAt),
          expiresAt: isoInstant(s.expiresAt),
        } as unknown as SessionInfo;
      });
    },

    close() {
      tabs?.close();
    },
  };
}
