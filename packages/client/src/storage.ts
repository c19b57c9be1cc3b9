/**
 * Where a client keeps its session. `memory` (the default) lasts as long as the page; `local` shares
 * it between the tabs of an origin and survives reloads; `cookie` keeps only the access token, in
 * memory, and leaves the refresh token in Latchkey's HttpOnly `latchkey_refresh` cookie, out of
 * JavaScript's reach. Any object with `get`, `set` and `remove` works too (React Native, tests).
 */
export interface TokenStorage {
  get(key: string): string | null;
  set(key: string, value: string): void;
  remove(key: string): void;
}

export type StorageOption = 'memory' | 'local' | 'cookie' | TokenStorage;

/** What a client keeps between calls. `expiresAt` is on the client's clock (ms). */
export interface StoredSession {
  readonly accessToken: string;
  /** Absent in cookie mode. */
  readonly refreshToken?: string;
  readonly expiresAt: number;
  readonly lifetimeMs: number;
}

export const SESSION_KEY = 'latchkey.session';

export function memoryStorage(): TokenStorage {
  const values = new Map<string, string>();
  return {
    get: (key) => values.get(key) ?? null,
    set: (key, value) => void values.set(key, value),
    remove: (key) => void values.delete(key),
  };
}

export function resolveStorage(option: StorageOption | undefined): TokenStorage {
  if (option === undefined || option === 'memory' || option === 'cookie') return memoryStorage();
  if (option === 'local') {
    const local = (globalThis as { localStorage?: Storage }).localStorage;
    if (!local) throw new TypeError("createAuthClient: storage 'local' needs window.localStorage");
    return {
      get: (key) => local.getItem(key),
      set: (key, value) => local.setItem(key, value),
      remove: (key) => local.removeItem(key),
    };
  }
  return option;
}

export function readSession(storage: TokenStorage): StoredSession | null {
  const raw = storage.get(SESSION_KEY);
  if (raw === null) return null;
  try {
    const parsed = JSON.parse(raw) as Partial<StoredSession>;
    if (typeof parsed.accessToken !== 'string' || typeof parsed.expiresAt !== 'number' || typeof parsed.lifetimeMs !== 'number')
      return null;
    return parsed as StoredSession;
  } catch {
    return null;
  }
}
