/**
 * The pages' one way to talk to Latchkey: the public HTTP API, through `@latchkey/client` in cookie mode
 * (the access token in memory, the refresh token only in the HttpOnly cookie). Calls the client has no
 * method for yet (sign-up, links, second factors, passkeys, admin) go through `auth.fetch`, or plain
 * `fetch` when no one is signed in; bodies and answers are read in whichever wire style the server runs.
 *
 * @example
 *   const api = new Api(auth, 'envelope');
 *   const me = await api.get('/api/auth/me'); // fields read with field(me, 'created_at')
 */
import { type AuthClient, LatchkeyError, errorOfResponse } from '@latchkey/client';

export type Style = 'flat' | 'envelope';
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Obj = { readonly [key: string]: Json };

export interface Page<T> {
  readonly items: T[];
  readonly total: number;
  readonly page: number;
  readonly pageSize: number;
}

const camel = (key: string) => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** A field of an answer by its snake_case name, whichever style spelled it. */
export function field(obj: Obj | null | undefined, name: string): Json | undefined {
  if (obj === null || obj === undefined) return undefined;
  return obj[name] ?? obj[camel(name)];
}

export function text(obj: Obj | null | undefined, name: string): string {
  const value = field(obj, name);
  return value === null || value === undefined ? '' : String(value);
}

/** An instant as either style sends it (Unix seconds or ISO-8601), as a Date. */
export function instant(obj: Obj | null | undefined, name: string): Date | null {
  const value = field(obj, name);
  if (typeof value === 'number') return new Date(value * 1000);
  if (typeof value === 'string') return new Date(value);
  return null;
}

/** The retry-after seconds of a 429, kept with the error so the message can say how long to wait. */
export class ApiError extends LatchkeyError {
  constructor(
    status: number,
    code: string,
    message: string,
    details: readonly { field: string; message: string }[] | undefined,
    readonly retryAfter: number | undefined,
  ) {
    super(status, code, message, details);
  }
}

/**
 * The error of a non-2xx answer, read by the client's own reader (both styles, the wire contract's codes), with
 * the seconds of a 429's Retry-After kept for the message.
 */
async function errorOf(response: Response): Promise<ApiError> {
  const retry = Number(response.headers.get('retry-after'));
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : undefined;
  const error = await errorOfResponse(response);
  // A flat 401 "invalid or expired token" names an access token, except on the second step, where it is the mfa_token.
  const code =
    error.status === 401 && error.code === 'UNAUTHORIZED' && error.message === 'invalid or expired token' && response.url.includes('/mfa/')
      ? 'INVALID_TOKEN'
      : error.code;
  return new ApiError(error.status, code, error.message, error.details, retryAfter);
}

export class Api {
  constructor(
    readonly auth: AuthClient,
    readonly style: Style,
  ) {}

  /** A body with snake_case keys, spelled as the style wants it (top-level keys only: nested values such as a WebAuthn credential go as they are). */
  private body(values: Readonly<Record<string, unknown>>): string {
    return JSON.stringify(this.style === 'flat' ? values : Object.fromEntries(Object.entries(values).map(([k, v]) => [camel(k), v])));
  }

  private async send(
    method: string,
    path: string,
    values: Readonly<Record<string, unknown>> | undefined,
    signedIn: boolean,
  ): Promise<Response> {
    const init: RequestInit = {
      method,
      credentials: 'same-origin',
      ...(values === undefined ? {} : { body: this.body(values), headers: { 'content-type': 'application/json' } }),
    };
    let response: Response;
    try {
      response = signedIn ? await this.auth.fetch(path, init) : await fetch(path, init);
    } catch (error) {
      if (error instanceof LatchkeyError) throw error;
      throw new ApiError(0, 'NETWORK_ERROR', 'the server cannot be reached', undefined, undefined);
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  /** The body of a 2xx answer (the envelope's `data`), or null for a 204. */
  private async data(response: Response): Promise<Obj | null> {
    if (response.status === 204) return null;
    const body = (await response.json()) as Obj;
    return this.style === 'envelope' ? ((body.data as Obj | null) ?? null) : body;
  }

  /** A call as the signed-in user (Bearer access token, refreshed as needed). */
  async call(method: string, path: string, values?: Readonly<Record<string, unknown>>): Promise<Obj | null> {
    return this.data(await this.send(method, path, values, true));
  }

  get(path: string): Promise<Obj | null> {
    return this.call('GET', path);
  }

  /**
   * A call with a token the page holds for one purpose only: the enrolment-only access token of a sign-in that
   * must set up a second factor first (SPEC §11). No refresh: that token has no refresh token.
   */
  async withToken(token: string, method: string, path: string, values?: Readonly<Record<string, unknown>>): Promise<Obj | null> {
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        credentials: 'same-origin',
        headers: { authorization: `Bearer ${token}`, ...(values === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(values === undefined ? {} : { body: this.body(values) }),
      });
    } catch {
      throw new ApiError(0, 'NETWORK_ERROR', 'the server cannot be reached', undefined, undefined);
    }
    if (!response.ok) throw await errorOf(response);
    return this.data(response);
  }

  /** A call without a session (sign-in, sign-up, links). */
  async anonymous(method: string, path: string, values?: Readonly<Record<string, unknown>>): Promise<{ status: number; data: Obj | null }> {
    const response = await this.send(method, path, values, false);
    return { status: response.status, data: await this.data(response) };
  }

  async list(path: string): Promise<Page<Obj>> {
    const response = await this.send('GET', path, undefined, true);
    const body = (await response.json()) as Obj;
    if (this.style === 'flat') {
      return {
        items: (body.items as Obj[]) ?? [],
        total: Number(body.total ?? 0),
        page: Number(body.page ?? 1),
        pageSize: Number(body.page_size ?? 50),
      };
    }
    const meta = (body.meta ?? {}) as Obj;
    return {
      items: (body.data as Obj[]) ?? [],
      total: Number(meta.total ?? 0),
      page: Number(meta.page ?? 1),
      pageSize: Number(meta.pageSize ?? 50),
    };
  }

  /**
   * Takes over a session that the server started with the refresh cookie (a login, a second step, a passkey,
   * a verified address, sign-up): one cookie refresh, so the access token lives in this page's memory only.
   */
  async adoptCookieSession(): Promise<void> {
    await this.auth.refresh();
  }
}
