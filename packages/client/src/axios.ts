/**
 * Axios interceptors over an {@link AuthClient}: every request gets the Bearer header (refreshed first
 * when due); a 401 that refuses the access token triggers one refresh and one retry, and a second such 401
 * ends the session here. A 401 about something the user typed (a wrong TOTP code, a wrong current password)
 * is the answer, as with the client's own fetch: it never spends a refresh or ends the session. Axios is
 * not a dependency: any instance with axios's interceptor API fits.
 *
 * @example
 *   import axios from 'axios';
 *   const api = axios.create({ baseURL: 'https://api.example.com' });
 *   const detach = attachAxios(api, auth);
 */
import type { AuthClient } from './client.ts';
import { refusesAccessToken } from './errors.ts';

interface HeadersLike {
  set?: (name: string, value: string) => unknown;
  get?: (name: string) => unknown;
  [name: string]: unknown;
}

/** What the interceptors read of a request's config: its headers (axios's own class, or a plain object). */
export interface AxiosRequestConfigLike {
  headers?: unknown;
}

export interface AxiosErrorLike<C extends AxiosRequestConfigLike = AxiosRequestConfigLike> {
  config?: C;
  /** `data`: the body, parsed by axios when it is JSON. */
  response?: { status: number; data?: unknown };
}

/** The part of an axios instance the interceptors use; `C` and `R` are the instance's own config and response types. */
export interface AxiosInstanceLike<C extends AxiosRequestConfigLike = AxiosRequestConfigLike, R = unknown> {
  interceptors: {
    request: { use(onFulfilled: (config: C) => C | Promise<C>): number; eject(id: number): void };
    response: {
      use(onFulfilled: (response: R) => R | Promise<R>, onRejected: (error: AxiosErrorLike<C>) => unknown): number;
      eject(id: number): void;
    };
  };
  request(config: NoInfer<C>): Promise<unknown>;
}

/** A 401 whose body refuses the access token (see {@link refusesAccessToken}). */
function refusesToken(error: AxiosErrorLike): boolean {
  return error.response?.status === 401 && refusesAccessToken(error.response.data);
}

function headersOf(config: AxiosRequestConfigLike): HeadersLike {
  if (typeof config.headers !== 'object' || config.headers === null) config.headers = {};
  return config.headers as HeadersLike;
}

function setBearer<C extends AxiosRequestConfigLike>(config: C, token: string): C {
  const headers = headersOf(config);
  if (typeof headers.set === 'function') headers.set('Authorization', `Bearer ${token}`);
  else headers.Authorization = `Bearer ${token}`;
  return config;
}

function bearerOf(config: AxiosRequestConfigLike): string | undefined {
  const headers = headersOf(config);
  const value = typeof headers.get === 'function' ? headers.get('Authorization') : (headers.Authorization ?? headers.authorization);
  return typeof value === 'string' ? value.replace(/^Bearer /, '') : undefined;
}

/** Installs the interceptors; returns a function that removes them. */
export function attachAxios<C extends AxiosRequestConfigLike, R>(instance: AxiosInstanceLike<C, R>, client: AuthClient): () => void {
  /** Requests already retried once, so that a second refusal is not retried again. */
  const retried = new WeakSet<object>();
  const request = instance.interceptors.request.use(async (config) => setBearer(config, await client.getAccessToken()));
  const response = instance.interceptors.response.use(
    (r) => r,
    async (error) => {
      const config = error.config;
      if (!refusesToken(error) || config === undefined) throw error;
      if (retried.has(config)) {
        client.reset();
        throw error;
      }
      try {
        await client.refresh(bearerOf(config));
      } catch {
        throw error;
      }
      retried.add(config);
      // The request interceptor sets the new token.
      return instance.request(config);
    },
  );
  return () => {
    instance.interceptors.request.eject(request);
    instance.interceptors.response.eject(response);
  };
}
