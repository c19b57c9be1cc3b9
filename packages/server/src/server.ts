/**
 * Starts a Latchkey server: the core (migrated database), the first admin, the HTTP app listening.
 * Used by `latchkey serve` and by tests.
 *
 * @example
 *   const server = await startServer(parseConfig({ PORT: '0', DATABASE_URL: 'sqlite::memory:' }));
 *   await fetch(`${server.url}/healthz`);
 *   await server.close();
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import { type Core, type CoreOptions, bootstrapAdmin, openCore } from './core.ts';
import { type AppOptions, buildApp } from './http/app.ts';

export interface RunningServer {
  readonly core: Core;
  readonly app: FastifyInstance;
  /** `http://host:port` it listens on. */
  readonly url: string;
  /** The first admin's generated password, when this start created it. */
  readonly generatedAdminPassword: string | undefined;
  /** Stops accepting connections, lets in-flight requests finish, closes the database. */
  close(): Promise<void>;
}

export interface ServerOptions extends CoreOptions, AppOptions {}

export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const core = await openCore(config, options);
  let app: FastifyInstance | undefined;
  try {
    const admin = await bootstrapAdmin(core);
    app = await buildApp(core, options);
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const running = app;
    return {
      core,
      app,
      url: `http://${host}:${port}`,
      generatedAdminPassword: admin?.generatedPassword,
      async close() {
        await running.close();
        await core.close();
      },
    };
  } catch (error) {
    await app?.close();
    await core.close();
    throw error;
  }
}
