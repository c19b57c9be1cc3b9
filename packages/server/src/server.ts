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
import { revocationLifetimeMs } from './clock.ts';
import type { Config } from './config.ts';
import { type Core, type CoreOptions, bootstrapAdmin, checkBootstrapAdmin, openCore } from './core.ts';
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

export interface ServerOptions extends CoreOptions, AppOptions {
  /** Create the first admin (default). A cluster worker doesn't: its primary did, once, before forking. */
  readonly createFirstAdmin?: boolean;
}

export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  // REDIS_URL: rate limits and revocations are shared with the other instances (scale/redis.ts).
  // ioredis loads only when Redis is configured.
  const redis =
    config.redisUrl === undefined
      ? undefined
      : await (
          await import('./scale/redis.ts')
        ).openRedisScale({ url: config.redisUrl, prefix: config.redisPrefix, maxRevocationMs: revocationLifetimeMs(config) });
  let core: Core;
  try {
    core = await openCore(config, {
      ...options,
      limiters: options.limiters ?? redis?.limiters,
      revocationBus: options.revocationBus ?? redis?.revocationBus,
    });
  } catch (error) {
    await redis?.close();
    throw error;
  }
  if (redis) core.addReadinessProbe('redis', () => redis.ping());
  let app: FastifyInstance | undefined;
  try {
    const createAdmin = options.createFirstAdmin !== false;
    // A weak LATCHKEY_ADMIN_PASSWORD stops the start before anything listens.
    if (createAdmin) checkBootstrapAdmin(config);
    app = await buildApp(core, options);
    redis?.setLogger(app.log);
    // Requests that arrive between the listen and the first admin's creation wait for it, so a client that
    // saw the port open (or /readyz answer) can sign in as that admin at once.
    let adminPending: Promise<unknown> | undefined;
    if (createAdmin) {
      app.addHook('onRequest', (_request, _reply, done) => {
        if (adminPending === undefined) done();
        else
          adminPending.then(
            () => done(),
            () => done(),
          );
      });
    }
    // The outbox sender runs where background jobs run (serve, not the CLI's one-shot commands).
    if (options.background ?? true) core.mail.startSender(app.log);
    await listen(app, config);
    // Only now, with the port ours: a start that fails to listen (EADDRINUSE) must not create the first
    // admin with a generated password that nobody ever sees.
    const creating = createAdmin ? bootstrapAdmin(core) : undefined;
    adminPending = creating;
    const admin = await creating?.finally(() => {
      adminPending = undefined;
    });
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
        await redis?.close();
      },
    };
  } catch (error) {
    await app?.close();
    await core.close();
    await redis?.close();
    throw error;
  }
}

/** The port is taken or not ours to use: say which address, and what to change. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

async function listen(app: FastifyInstance, config: Config): Promise<void> {
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
    if (code === 'EADDRINUSE')
      throw new ListenError(`${where} is already in use: stop the other server, or choose another PORT (--port)`, { cause: error });
    if (code === 'EACCES')
      throw new ListenError(`may not listen on ${where} (EACCES): ports below 1024 need privileges; choose another PORT (--port)`, {
        cause: error,
      });
    if (code === 'EADDRNOTAVAIL')
      throw new ListenError(`${config.host} is not an address of this machine (EADDRNOTAVAIL): check HOST (--host)`, { cause: error });
    throw error;
  }
}
