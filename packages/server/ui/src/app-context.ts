/** What every page shares: the server's public UI configuration and the API. */
import { createContext, useContext } from 'react';
import type { Api, Style } from './api.ts';

export interface Provider {
  readonly id: string;
  readonly name: string;
  readonly loginUrl: string;
}

export interface UiConfig {
  readonly style: Style;
  readonly appName: string;
  readonly signup: 'off' | 'open' | 'verify';
  readonly providers: readonly Provider[];
  readonly allowedRedirects: readonly string[];
}

export interface AppContextValue {
  readonly config: UiConfig;
  readonly api: Api;
}

export const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const value = useContext(AppContext);
  if (value === null) throw new Error('useApp outside <AppContext.Provider>');
  return value;
}
