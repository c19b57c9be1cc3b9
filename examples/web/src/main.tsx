/**
 * Boots the page: reads where Latchkey and the jobs API are (`/config.json`, written by the server
 * that serves this page), then renders the app with the auth client in cookie mode.
 */
import { createAuthClient } from '@latchkey/client';
import { AuthProvider } from '@latchkey/client/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createRoot } from 'react-dom/client';
import { App, type PageConfig, goTo } from './App.tsx';

const config = (await (await fetch('/config.json')).json()) as PageConfig;
// Cookie mode: the refresh token stays in Latchkey's HttpOnly cookie, out of this page's JavaScript.
const auth = createAuthClient({ baseUrl: config.authUrl, style: config.style, storage: 'cookie' });
const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false } } });

createRoot(document.getElementById('root')!).render(
  <QueryClientProvider client={queryClient}>
    <AuthProvider client={auth} onUnauthenticated={() => goTo('/login')}>
      <App config={config} />
    </AuthProvider>
  </QueryClientProvider>,
);
