/**
 * Boots the pages: reads `/ui/config.json` (in the server's wire style), creates the auth client in cookie
 * mode (the refresh token stays in the HttpOnly cookie; the access token only in memory), renders.
 */
import { createAuthClient } from '@latchkey/client';
import { AuthProvider } from '@latchkey/client/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createRoot } from 'react-dom/client';
import { Api, type Obj, field, text } from './api.ts';
import { App } from './App.tsx';
import { AppContext, type UiConfig } from './app-context.ts';
import './styles.css';

function configOf(body: Obj): UiConfig {
  // The envelope wraps it in `data` with camelCase keys; the flat style sends it as is.
  const data = (body.data !== undefined && body.data !== null && typeof body.data === 'object' ? body.data : body) as Obj;
  const style = text(data, 'style') === 'envelope' ? 'envelope' : 'flat';
  const providers = ((field(data, 'providers') as Obj[] | undefined) ?? []).map((p) => ({
    id: text(p, 'id'),
    name: text(p, 'name'),
    loginUrl: text(p, 'login_url'),
  }));
  const signup = text(data, 'signup');
  return {
    style,
    appName: text(data, 'app_name') || 'Latchkey',
    signup: signup === 'open' || signup === 'verify' ? signup : 'off',
    providers,
    allowedRedirects: ((field(data, 'allowed_redirects') as string[] | undefined) ?? []).map(String),
  };
}

async function boot(): Promise<void> {
  const root = createRoot(document.getElementById('root')!);
  let config: UiConfig;
  try {
    const response = await fetch('/ui/config.json', { credentials: 'same-origin' });
    config = configOf((await response.json()) as Obj);
  } catch {
    root.render(<p role="alert">The server cannot be reached. Reload the page to try again.</p>);
    return;
  }
  const auth = createAuthClient({ baseUrl: window.location.origin, style: config.style, storage: 'cookie', crossTab: true });
  const api = new Api(auth, config.style);
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false } } });
  root.render(
    <QueryClientProvider client={queryClient}>
      <AuthProvider client={auth}>
        <AppContext.Provider value={{ config, api }}>
          <App />
        </AppContext.Provider>
      </AuthProvider>
    </QueryClientProvider>,
  );
}

void boot();
