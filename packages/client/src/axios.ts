/**
 * Axios interceptors over an {@link AuthClient}: every request gets the Bearer header (refreshed first
 * when due); a 401 triggers one refresh and one retry; a second 401 ends the session here. Axios is
 * not a dependency: any instance with axios's interceptor API fits.
 *
 * @example
 *   import axios from 'axios';
 *   const api = axios.create({ baseURL: 'https://api.example.com' });
 *   const detach = attachAxios(api, auth);
 */
import type { AuthClient } from './client.ts';

interface HeadersLike {
  set?: (name: string, value: string) => unknown;
  [name: string]: unknown;
}

export interface AxiosRequestConfigLike {
  headers?: HeadersLike;
  [key: string]: unknown;
}

export interface AxiosErrorLike {
  config?: AxiosRequestConfigLike;
  response?: { status: number };
}

export interface AxiosInstanceLike {
  interceptors: {
    request: { use(onFulfilled: (config: AxiosRequestConfigLike) => Promise<AxiosRequestConfigLike>): number; eject(id: number): void };
    response: {
      use(onFulfilled: (response: unknown) => unknown, onRejected: (error: AxiosErrorLike) => unknown): number;
      eject(id: number): void;
    };
  };
  request(config: AxiosRequestConfigLike): Promise<unknown>;
}

/** Marks a retried request, so that a second 401 is not retried again. */
const RETRIED = '__latchkeyRetried';

function setBearer(config: AxiosRequestConfigLike, token: string): AxiosRequestConfigLike {
  const headers: HeadersLike = config.headers ?? {};
  if (typeof headers.set === 'function') headers.set('Authorization', `Bearer ${token}`);
  else headers.Authorization = `Bearer ${token}`;
  config.headers = headers;
  return config;
}

function bearerOf(config: AxiosRequestConfigLike | undefined): string | undefined {
  const value = config?.headers?.Authorization ?? config?.headers?.authorization;
  return typeof value === 'string' ? value.replace(/^Bearer /, '') : undefined;
}

/** Installs the interceptors; returns a function that removes them. */
export function attachAxios(instance: AxiosInstanceLike, client: AuthClient): () => void {
  const request = instance.interceptors.request.use(async (config) => setBearer(config, await client.getAccessToken()));
  const response = instance.interceptors.response.use(
    (r) => r,
    async (error) => {
      const config = error.config;
      if (error.response?.status !== 401 || config === undefined) throw error;
      if (config[RETRIED]) {
        client.reset();
        throw error;
      }
      try {
        await client.refresh(bearerOf(config));
      } catch {
        throw error;
      }
      config[RETRIED] = true;
      // The request interceptor sets the new token.
      return instance.request(config);
    },
  );
  return () => {
    instance.interceptors.request.eject(request);
    instance.interceptors.response.eject(response);
  };
}
