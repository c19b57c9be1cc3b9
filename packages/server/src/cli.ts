/**
 * The `latchkey` command (SPEC §1). Exit codes: 0 success; 1 runtime failure or conflict (the user
 * exists, no such user); 2 bad usage, bad configuration or a refused value (naming the variable or flag).
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import dotenv from 'dotenv';
import { pino } from 'pino';
import { CLOCK_SKEW_MS } from './auth/tokens.ts';
import { ConfigError, parseConfig, type Config, type Role } from './config.ts';
import { bootstrapAdmin, openCore, type Core } from './core.ts';
import { IMPORT_FORMATS, ImportFileError, type ImportFormat, importUsers, readImportSource } from './auth/import.ts';
import { listSigningKeys, rotateSigningKeys } from './auth/keys.ts';
import { Conflict, LatchkeyError, NotFound, RefusedValue } from './errors.ts';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

class UsageError extends Error {}

const USAGE = `Usage: latchkey <command>

  serve [--port N] [--host H] [--database URL] [--workers N|auto]
                                                 run the server (applies migrations); N processes share the port
  migrate [--database URL]                       apply schema migrations
  users create --username U [--email E] [--role ADMIN|STANDARD] [--password P | --password-stdin] [--unverified]
  users list [--json]
  users set-role --username U --role ADMIN|STANDARD
  users set-password --username U (--password P | --password-stdin)
  users disable|enable|delete --username U
  users import FILE [--format json|csv|vega]     import users with their password hashes (re-runs skip existing)
  keys rotate [--now]                            a new signing key, published first and signing after
                                                 LATCHKEY_KEY_PUBLISH_DELAY (--now: at once); old ones verify
                                                 until their tokens expire
  keys list [--json]                             the signing keys and what each is used for

Configuration comes from the environment and a .env file; flags override it.`;

type Values = Record<string, string | boolean | undefined>;

function parse(args: string[], options: ParseArgsConfig['options']): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function required(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

function readStdin(): string {
  // One line: the trailing newline of `echo pw |` is not part of the password.
  return readFileSync(0, 'utf8').replace(/\r?\n$/, '');
}

function passwordFrom(values: Values): string | undefined {
  if (values.password !== undefined && values['password-stdin']) throw new UsageError('give --password or --password-stdin, not both');
  if (values['password-stdin']) return readStdin();
  return typeof values.password === 'string' ? values.password : undefined;
}

function configFrom(env: NodeJS.ProcessEnv, values: Values): Config {
  const overrides: Record<string, string> = {};
  if (typeof values.port === 'string') overrides.PORT = values.port;
  if (typeof values.host === 'string') overrides.HOST = values.host;
  if (typeof values.database === 'string') overrides.DATABASE_URL = values.database;
  try {
    return parseConfig({ ...env, ...overrides });
  } catch (error) {
    // Name the flag when the bad value came from one.
    if (error instanceof ConfigError) {
      const flag = { PORT: '--port', HOST: '--host', DATABASE_URL: '--database' }[error.variable];
      if (flag !== undefined && overrides[error.variable] !== undefined) throw new ConfigError(flag, error.message.replace(/^[^:]+: /, ''));
    }
    throw error;
  }
}

const out = (line: string) => process.stdout.write(line + '\n');

async function withCore<T>(config: Config, run: (core: Core) => Promise<T>): Promise<T> {
  const core = await openCore(config, { background: false });
  try {
    return await run(core);
  } finally {
    await core.close();
  }
}

async function serve(args: string[]): Promise<number> {
  const { values } = parse(args, { port: { type: 'string' }, host: { type: 'string' }, database: { type: 'string' }, workers: { type: 'string' } });
  const config = configFrom(process.env, values);
  // Loaded here, not at the top: the HTTP stack is most of the startup cost of one-shot commands.
  const { parseWorkers, workerServerOptions } = await import('./scale/cluster.ts');
  const { startServer } = await import('./server.ts');
  const workers = parseWorkers(typeof values.workers === 'string' ? values.workers : undefined, config);
  if (workers > 1 && cluster.isPrimary) return servePrimary(config, workers);
  const server = await startServer(config, cluster.isWorker ? workerServerOptions(config, config.accessTtlMs + CLOCK_SKEW_MS) : {});
  if (server.generatedAdminPassword !== undefined) {
    // Printed once, on the start that created the account; never logged.
    out(`admin password: ${server.generatedAdminPassword}`);
  }
  server.app.log.info({ url: server.url, style: config.apiStyle }, 'latchkey listening');
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return; // Ctrl-C reaches a cluster worker twice: from the terminal and from its primary
      stopping = true;
      server.app.log.info({ signal }, 'shutting down');
      server.close().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  // A cluster worker's IPC channel to its primary would keep it alive; closing it lets the process end.
  if (cluster.isWorker) process.disconnect();
  return EXIT_OK;
}

/** `serve --workers N`: migrations and the first admin once, here, then the workers (scale/cluster.ts). */
async function servePrimary(config: Config, workers: number): Promise<number> {
  const admin = await withCore(config, (core) => bootstrapAdmin(core));
  if (admin?.generatedPassword !== undefined) out(`admin password: ${admin.generatedPassword}`);
  const log = pino({ level: config.logLevel, base: { role: 'primary', pid: process.pid } });
  const { runPrimary } = await import('./scale/cluster.ts');
  return runPrimary({ workers, sharedLimits: config.redisUrl === undefined, log });
}

async function migrate(args: string[]): Promise<number> {
  const { values } = parse(args, { database: { type: 'string' } });
  const config = configFrom(process.env, values);
  await withCore(config, async () => {});
  out('migrations applied');
  return EXIT_OK;
}

function role(value: string | boolean | undefined, fallback?: Role): Role {
  if (value === undefined && fallback !== undefined) return fallback;
  if (value !== 'ADMIN' && value !== 'STANDARD') throw new ConfigError('--role', 'must be ADMIN or STANDARD');
  return value;
}

async function users(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const options: ParseArgsConfig['options'] = {
    username: { type: 'string' },
    email: { type: 'string' },
    role: { type: 'string' },
    password: { type: 'string' },
    'password-stdin': { type: 'boolean' },
    unverified: { type: 'boolean' },
    json: { type: 'boolean' },
    database: { type: 'string' },
    format: { type: 'string' },
  };
  const { values, positionals } = parse(rest, options);
  const config = configFrom(process.env, values);
  const ctx = { actorUserId: null };
  return withCore(config, async (core) => {
    switch (sub) {
      case 'create': {
        const password = passwordFrom(values);
        const user = await core.accounts.create(
          {
            username: required(values, 'username'),
            email: typeof values.email === 'string' ? values.email : null,
            role: role(values.role, 'STANDARD'),
            ...(password === undefined ? {} : { password }),
            // The address must be confirmed by mail before a login under LATCHKEY_SIGNUP=verify (SPEC §10).
            emailVerified: values.unverified !== true,
          },
          ctx,
        );
        out(`created user ${user.username} (id ${user.id}, ${user.role})`);
        return EXIT_OK;
      }
      case 'list': {
        const all = [];
        for (let page = 1; ; page++) {
          const { items } = await core.users.list({ page, pageSize: 200 });
          all.push(...items);
          if (items.length < 200) break;
        }
        const rows = all.map((u) => ({
          id: u.id,
          username: u.username,
          email: u.email,
          role: u.role,
          disabled: u.disabled === 1,
          created_at: new Date(u.created_at).toISOString(),
          last_login_at: u.last_login_at === null ? null : new Date(u.last_login_at).toISOString(),
        }));
        if (values.json) out(JSON.stringify(rows, null, 2));
        else for (const r of rows) out(`${r.id}\t${r.username}\t${r.email ?? '-'}\t${r.role}${r.disabled ? '\tdisabled' : ''}`);
        return EXIT_OK;
      }
      case 'set-role': {
        const user = await core.users.getByUsername(required(values, 'username'));
        await core.accounts.setRole(user.id, role(values.role), ctx);
        out(`${user.username} is now ${String(values.role)}`);
        return EXIT_OK;
      }
      case 'set-password': {
        const user = await core.users.getByUsername(required(values, 'username'));
        const password = passwordFrom(values);
        if (password === undefined) throw new UsageError('--password or --password-stdin is required');
        await core.accounts.resetPassword(user.id, password, ctx);
        out(`password of ${user.username} changed; its sessions were revoked`);
        return EXIT_OK;
      }
      case 'disable':
      case 'enable': {
        const user = await core.users.getByUsername(required(values, 'username'));
        await core.accounts.setDisabled(user.id, sub === 'disable', ctx);
        out(`${user.username} ${sub}d`);
        return EXIT_OK;
      }
      case 'delete': {
        const user = await core.users.getByUsername(required(values, 'username'));
        await core.accounts.delete(user.id, ctx);
        out(`${user.username} deleted`);
        return EXIT_OK;
      }
      case 'import':
        return importCommand(core, positionals, values);
      default:
        throw new UsageError(`unknown users command: ${sub ?? '(none)'}`);
    }
  });
}

/** `users import FILE [--format json|csv|vega]`: exit 0 when every row was imported or already there, 1 when some were refused. */
async function importCommand(core: Core, positionals: string[], values: Values): Promise<number> {
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) throw new UsageError('users import takes one FILE');
  const format = values.format;
  if (format !== undefined && !(IMPORT_FORMATS as readonly unknown[]).includes(format)) {
    throw new ConfigError('--format', `must be one of ${IMPORT_FORMATS.join(', ')}`);
  }
  let source;
  try {
    source = readImportSource(file, format as ImportFormat | undefined);
  } catch (error) {
    const reason = error instanceof ImportFileError ? error.message : `cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
    throw new ConfigError('FILE', `${file}: ${reason}`);
  }
  const report = await importUsers(core, source, { actorUserId: null });
  const existing = report.skipped.filter((s) => s.kind === 'exists').length;
  const refused = report.skipped.length - existing;
  for (const s of report.skipped) out(`skipped ${s.ref}${s.username === null ? '' : ` (${s.username})`}: ${s.reason}`);
  out(`imported ${report.imported.length} of ${source.rows.length} users (${report.format}); skipped ${existing} existing, ${refused} refused`);
  return refused > 0 ? EXIT_FAILURE : EXIT_OK;
}

async function keys(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, { json: { type: 'boolean' }, now: { type: 'boolean' }, database: { type: 'string' } });
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  if (sub !== 'rotate' && sub !== 'list') throw new UsageError(`unknown keys command: ${sub ?? '(none)'}`);
  if (values.now === true && sub !== 'rotate') throw new UsageError('--now is an option of keys rotate');
  const config = configFrom(process.env, values);
  return withCore(config, async (core) => {
    if (sub === 'rotate') {
      const now = Date.now();
      const rotation = await rotateSigningKeys(core.store.db, config, now, { immediately: values.now === true });
      await core.audit.write('key_rotated', { details: { kid: rotation.kid, alg: rotation.alg, retired: rotation.retired.join(','), removed: rotation.removed } }, { actorUserId: null });
      if (rotation.signsFrom > now) {
        out(`new ${rotation.alg} signing key ${rotation.kid}; published now, signing from ${new Date(rotation.signsFrom).toISOString()} (LATCHKEY_KEY_PUBLISH_DELAY)`);
      } else {
        out(`new ${rotation.alg} signing key ${rotation.kid}; running servers switch to it within 60 s`);
      }
      if (rotation.retired.length > 0) out(`retired ${rotation.retired.join(', ')}: they verify until ${new Date(rotation.verifyUntil).toISOString()}`);
      if (rotation.removed > 0) out(`removed ${rotation.removed} expired key(s)`);
      return EXIT_OK;
    }
    const listing = await listSigningKeys(core.store.db, config);
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    if (values.json) {
      out(JSON.stringify(listing.map((k) => ({ kid: k.kid, alg: k.alg, state: k.state, created_at: iso(k.createdAt), retired_at: iso(k.retiredAt), expires_at: iso(k.expiresAt) })), null, 2));
    } else {
      for (const k of listing) {
        const until =
          k.state === 'verifying' && k.expiresAt !== null ? ` until ${iso(k.expiresAt)}` : k.state === 'signing' && k.retiredAt !== null ? ` until ${iso(k.retiredAt)}` : '';
        const created = config.jwtSecret !== undefined && config.jwtAlg === 'HS256' ? 'LATCHKEY_JWT_SECRET' : iso(k.createdAt);
        out(`${k.kid}\t${k.alg}\t${k.state}${until}\t${created}`);
      }
    }
    return EXIT_OK;
  });
}

/** Runs one command; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  dotenv.config({ quiet: true });
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(args);
      case 'migrate':
        return await migrate(args);
      case 'users':
        return await users(args);
      case 'keys':
        return await keys(args);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out(USAGE);
        return command === undefined ? EXIT_USAGE : EXIT_OK;
      default:
        throw new UsageError(`unknown command: ${command}`);
    }
  } catch (error) {
    return report(error);
  }
}

function report(error: unknown): number {
  const err = (line: string) => process.stderr.write(`latchkey: ${line}\n`);
  if (error instanceof UsageError) {
    err(error.message);
    process.stderr.write(USAGE + '\n');
    return EXIT_USAGE;
  }
  if (error instanceof ConfigError) {
    err(error.message);
    return EXIT_USAGE;
  }
  if (error instanceof RefusedValue) {
    err(`--${error.field}: ${error.message}`);
    return EXIT_USAGE;
  }
  if (error instanceof Conflict || error instanceof NotFound || error instanceof LatchkeyError) {
    err(error.message);
    return EXIT_FAILURE;
  }
  err(error instanceof Error ? error.message : String(error));
  return EXIT_FAILURE;
}
