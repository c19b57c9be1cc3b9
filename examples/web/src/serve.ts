/**
 * Serves the built page (`dist/`) and `/config.json`, which tells the page where Latchkey and the
 * jobs API are. The config is set after the other servers have their ports.
 */
import { readFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import type { PageConfig } from './App.tsx';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

export interface PageServer {
  readonly url: string;
  /** The same page as `http://localhost:PORT`: where passkeys work. */
  readonly localhostUrl: string;
  setConfig(config: PageConfig): void;
  close(): Promise<void>;
}

/**
 * The page opened as `http://localhost:…` (browsers allow passkeys there, never on an IP address) gets
 * Latchkey and the jobs API under `localhost` too, so they stay same-site and the refresh cookie travels.
 */
function forHost(config: PageConfig, host: string | undefined): PageConfig {
  if (host === undefined || !/^localhost(:\d+)?$/i.test(host)) return config;
  const local = (url: string) => url.replace('//127.0.0.1:', '//localhost:');
  return { ...config, authUrl: local(config.authUrl), apiUrl: local(config.apiUrl) };
}

export async function servePage(dir: string, options: { port?: number; host?: string } = {}): Promise<PageServer> {
  let config: PageConfig | undefined;
  const root = normalize(dir) + sep;
  const server: Server = createServer(async (req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
    if (path === '/config.json') {
      res.writeHead(config ? 200 : 503, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(JSON.stringify(config ? forHost(config, req.headers.host) : { error: 'starting' }));
      return;
    }
    // Files under dist only; everything else is the page itself.
    const file = normalize(join(root, path));
    const target = file.startsWith(root) && extname(file) !== '' ? file : join(root, 'index.html');
    try {
      const body = await readFile(target);
      res.writeHead(200, { 'content-type': TYPES[extname(target)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    url: `http://${host}:${port}`,
    localhostUrl: `http://localhost:${port}`,
    setConfig: (next) => void (config = next),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
