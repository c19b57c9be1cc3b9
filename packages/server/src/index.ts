/** Latchkey's server as a library: configuration, the domain core, the HTTP app, and a one-call start. */
export { parseConfig, ConfigError, type Config } from './config.ts';
export { openCore, bootstrapAdmin, type Core, type CoreOptions } from './core.ts';
export { buildApp, type AppOptions, type RouteInstaller } from './http/app.ts';
export { startServer, type RunningServer, type ServerOptions } from './server.ts';
export * from './errors.ts';
