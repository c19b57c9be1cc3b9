/**
 * The `latchkey` command (SPEC §1). Exit codes: 0 success; 1 runtime failure or conflict (the user
 * exists, no such user); 2 bad usage, bad configuration or a refused value (naming the variable or flag).
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import dotenv from 'dotenv';
import { pino } from 'pino';
import { revocationLifetimeMs } from './clock.ts';
import { ConfigError, parseConfig, type Config, type Role } from './config.ts';
import { bootstrapAdmin, openCore, type Core } from './core.ts';
import { Metrics } from './metrics.ts';
import { listSigningKeys, rotateSigningKeysAudited } from './auth/keys.ts';
import { Conflict, LatchkeyError, NotFound, RefusedValue } from './errors.ts';
import { redactPasswords } from './redact.ts';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * Where a command reads and writes: the process's own streams and environment by default; tests pass
 * their own, so that most CLI cases run in-process (`main(argv, io)`).
 */
export interface CliIo {
  /** The environment; a `.env` file in `cwd` fills in what it does not set. */
  readonly env: Record<string, string | undefined>;
  readonly cwd: string;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /** All of standard input (`--password-stdin`). */
  readStdin(): string;
}

export function processIo(): CliIo {
  return {
    env: process.env,
    cwd: process.cwd(),
    stdout: process.stdout,
    stderr: process.stderr,
    readStdin: () => readFileSync(0, 'utf8'),
  };
}

class UsageError extends Error {
  /** The usage shown with the message: the command's own, or the general one. */
  constructor(
    message: string,
    readonly usage = USAGE,
  ) {
    super(message);
  }
}

/** Each command's usage, printed by `latchkey <command> --help`, `latchkey help <command>` and after a usage error. */
const COMMAND_USAGE = {
  serve: `latchkey serve [--port N] [--host H] [--database URL] [--workers N|auto]
    run the server (applies migrations); N processes share the port (auto: one per core on PostgreSQL, one on SQLite)`,
  migrate: `latchkey migrate [--database URL]
    apply schema migrations`,
  'users create': `latchkey users create --username U [--email E] [--role ADMIN|STANDARD] (--password P | --password-stdin | --no-password) [--unverified]
    create a user; --no-password makes an account that cannot sign in with a password (OpenID only);
    --unverified: the address must be confirmed by mail before a login under LATCHKEY_SIGNUP=verify`,
  'users list': `latchkey users list [--json]
    every user, one a line (or JSON), without password hashes`,
  'users set-role': `latchkey users set-role --username U --role ADMIN|STANDARD`,
  'users set-password': `latchkey users set-password --username U (--password P | --password-stdin)
    set a new password (also for a lost first-admin password); the user's sessions are revoked`,
  'users disable': `latchkey users disable --username U
    the user cannot sign in; their sessions are revoked`,
  'users enable': `latchkey users enable --username U`,
  'users delete': `latchkey users delete --username U`,
  'users import': `latchkey users import FILE [--format json|csv|vega]
    import users with their password hashes; the format is guessed from the file; re-runs skip existing users`,
  'keys rotate': `latchkey keys rotate [--now]
    a new signing key, published at once and signing after LATCHKEY_KEY_PUBLISH_DELAY (--now: signing at once,
    for a compromised key); old ones verify until their tokens expire`,
  'keys list': `latchkey keys list [--json]
    the signing keys and what each is used for`,
} as const;

const FOOTER = 'Configuration comes from the environment and a .env file; flags override it. --database takes a DATABASE_URL value.';

function usageOf(prefix: string): string {
  const lines = Object.entries(COMMAND_USAGE)
    .filter(([name]) => name === prefix || name.startsWith(`${prefix} `))
    .map(([, text]) => `  ${text}`);
  return `Usage:\n${lines.join('\n')}\n\n${FOOTER}`;
}

const USAGE = `Usage: latchkey <command>   (latchkey <command> --help, or latchkey help <command>, for one command)

${Object.values(COMMAND_USAGE)
  .map((text) => `  ${text}`)
  .join('\n')}

${FOOTER}`;

/** `users import` is also reachable as `help import`, the way a newcomer asks for it. */
function helpTopic(words: string[]): string | undefined {
  const [first, second] = words;
  if (first === undefined) return USAGE;
  if (first === 'import') return usageOf('users import');
  const pair = `${first} ${second ?? ''}`;
  if (second !== undefined && pair in COMMAND_USAGE) return usageOf(pair);
  if (first === 'users' || first === 'keys' || first in COMMAND_USAGE) return usageOf(first);
  return undefined;
}

/** `--help` or `-h` anywhere among a command's arguments (not as the value of another flag). */
function asksForHelp(args: string[], options: ParseArgsConfig['options']): boolean {
  const { tokens } = parseArgs({
    args,
    options: { ...options, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  return tokens.some((t) => t.kind === 'option' && t.name === 'help');
}

type Values = Record<string, string | boolean | undefined>;

function parse(args: string[], options: ParseArgsConfig['options'], usage = USAGE): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (error) {
    // Node's "Unknown option '--x'." goes on about positionals after `--`, which misleads here: keep its first sentence.
    const text = error instanceof Error ? error.message : String(error);
    const message = text.startsWith('Unknown option') ? text.split(/\.\s/)[0]! : text;
    throw new UsageError(message, usage);
  }
}

/**
 * A stray argument is not echoed (it may be a password typed without its flag, and stderr ends up in CI
 * logs) unless it is the name of one of the command's options without its dashes, the common slip.
 */
function noPositionals(positionals: string[], usage: string): void {
  const [stray] = positionals;
  if (stray === undefined) return;
  const options = new Set([...usage.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]));
  throw new UsageError(
    options.has(stray) ? `unexpected argument: ${stray} (did you mean --${stray}?)` : 'unexpected argument (not shown: it may be a secret)',
    usage,
  );
}

function required(values: Values, name: string, usage: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`, usage);
  return value;
}

function readStdin(io: CliIo): string {
  // One line: the trailing newline of `echo pw |` is not part of the password.
  return io.readStdin().replace(/\r?\n$/, '');
}

/** A refused password read from standard input names `--password-stdin`, the flag the user gave. */
async function namingPasswordFlag<T>(values: Values, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (values['password-stdin'] && error instanceof RefusedValue && error.field === 'password') {
      throw new RefusedValue('password-stdin', error.message);
    }
    throw error;
  }
}

function passwordFrom(io: CliIo, values: Values, usage: string): string | undefined {
  if (values.password !== undefined && values['password-stdin'])
    throw new UsageError('give --password or --password-stdin, not both', usage);
  if (values['password-stdin']) return readStdin(io);
  return typeof values.password === 'string' ? values.password : undefined;
}

function configFrom(env: CliIo['env'], values: Values): Config {
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

async function withCore<T>(config: Config, run: (core: Core) => Promise<T>): Promise<T> {
  // No default process metrics: their event-loop monitor would keep ticking (a wake-up every 10 ms) in a
  // process that lives on, such as the primary of `serve --workers`.
  const core = await openCore(config, { background: false, metrics: new Metrics({ defaultMetrics: false }) });
  try {
    return await run(core);
  } finally {
    await core.close();
  }
}

const SERVE_OPTIONS: ParseArgsConfig['options'] = {
  port: { type: 'string' },
  host: { type: 'string' },
  database: { type: 'string' },
  workers: { type: 'string' },
};
const MIGRATE_OPTIONS: ParseArgsConfig['options'] = { database: { type: 'string' } };

async function serve(io: CliIo, args: string[]): Promise<number> {
  const usage = usageOf('serve');
  const { values, positionals } = parse(args, SERVE_OPTIONS, usage);
  noPositionals(positionals, usage);
  const out = (line: string) => io.stdout.write(line + '\n');
  const config = configFrom(io.env, values);
  // Loaded here, not at the top: the HTTP stack is most of the startup cost of one-shot commands.
  const { parseWorkers, workerServerOptions } = await import('./scale/cluster.ts');
  const { startServer } = await import('./server.ts');
  const workers = parseWorkers(typeof values.workers === 'string' ? values.workers : undefined, config);
  if (workers > 1 && cluster.isPrimary) return servePrimary(io, config, workers);
  const server = await startServer(config, cluster.isWorker ? workerServerOptions(config, revocationLifetimeMs(config)) : {});
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
async function servePrimary(io: CliIo, config: Config, workers: number): Promise<number> {
  const admin = await withCore(config, (core) => bootstrapAdmin(core));
  // Printed before the workers try to listen: a failed listen then cannot lose it.
  if (admin?.generatedPassword !== undefined) io.stdout.write(`admin password: ${admin.generatedPassword}\n`);
  const log = pino({ level: config.logLevel, base: { role: 'primary', pid: process.pid } });
  const { runPrimary } = await import('./scale/cluster.ts');
  return runPrimary({ workers, sharedLimits: config.redisUrl === undefined, log });
}

async function migrate(io: CliIo, args: string[]): Promise<number> {
  const usage = usageOf('migrate');
  const { values, positionals } = parse(args, MIGRATE_OPTIONS, usage);
  noPositionals(positionals, usage);
  const config = configFrom(io.env, values);
  await withCore(config, async () => {});
  io.stdout.write('migrations applied\n');
  return EXIT_OK;
}

function role(value: string | boolean | undefined, fallback?: Role): Role {
  if (value === undefined && fallback !== undefined) return fallback;
  if (value !== 'ADMIN' && value !== 'STANDARD') throw new ConfigError('--role', 'must be ADMIN or STANDARD');
  return value;
}

const USERS_OPTIONS: ParseArgsConfig['options'] = {
  username: { type: 'string' },
  email: { type: 'string' },
  role: { type: 'string' },
  password: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  'no-password': { type: 'boolean' },
  unverified: { type: 'boolean' },
  json: { type: 'boolean' },
  database: { type: 'string' },
  format: { type: 'string' },
};

/** A command whose arguments were all checked: it only needs the database now. */
type Action = (core: Core) => Promise<number>;

async function users(io: CliIo, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const name = `users ${sub ?? ''}`;
  if (sub === undefined || !(name in COMMAND_USAGE)) throw new UsageError(`unknown users command: ${sub ?? '(none)'}`, usageOf('users'));
  const usage = usageOf(name);
  const { values, positionals } = parse(rest, USERS_OPTIONS, usage);
  // The users commands share one option table; an option of another one (`users list --role ADMIN`) is refused,
  // not ignored: the person meant something the command will not do. --database goes with every command.
  const own = new Set(['database', ...[...usage.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1])]);
  const stray = Object.keys(values).find((option) => !own.has(option));
  if (stray !== undefined) throw new UsageError(`--${stray} does not apply to ${name}`, usage);
  if (sub !== 'import') noPositionals(positionals, usage);
  // Every argument is checked (and standard input read) before the database is opened or created.
  const action = await usersAction(io, sub, values, positionals, usage);
  const config = configFrom(io.env, values);
  return withCore(config, action);
}

async function usersAction(io: CliIo, sub: string, values: Values, positionals: string[], usage: string): Promise<Action> {
  const out = (line: string) => io.stdout.write(line + '\n');
  const ctx = { actorUserId: null };
  const username = () => required(values, 'username', usage);
  switch (sub) {
    case 'create': {
      const newUser = {
        username: username(),
        email: typeof values.email === 'string' ? values.email : null,
        role: role(values.role, 'STANDARD'),
        // The address must be confirmed by mail before a login under LATCHKEY_SIGNUP=verify (SPEC §10).
        emailVerified: values.unverified !== true,
      };
      const password = passwordFrom(io, values, usage);
      // An account without a password cannot sign in with one: only on purpose (an OpenID-only account).
      if (password === undefined && !values['no-password']) {
        throw new UsageError(
          'give --password P or --password-stdin (or --no-password for an account that signs in only through an OpenID provider)',
          usage,
        );
      }
      if (password !== undefined && values['no-password']) throw new UsageError('give a password or --no-password, not both', usage);
      return async (core) => {
        const user = await namingPasswordFlag(values, () =>
          core.accounts.create({ ...newUser, ...(password === undefined ? {} : { password }) }, ctx),
        );
        out(`created user ${user.username} (id ${user.id}, ${user.role})`);
        return EXIT_OK;
      };
    }
    case 'list':
      return async (core) => {
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
          disabled: u.disabled,
          created_at: new Date(u.createdAt).toISOString(),
          last_login_at: u.lastLoginAt === null ? null : new Date(u.lastLoginAt).toISOString(),
        }));
        if (values.json) out(JSON.stringify(rows, null, 2));
        else for (const r of rows) out(`${r.id}\t${r.username}\t${r.email ?? '-'}\t${r.role}${r.disabled ? '\tdisabled' : ''}`);
        return EXIT_OK;
      };
    case 'set-role': {
      const name = username();
      const newRole = role(values.role);
      return async (core) => {
        const user = await core.users.getByUsername(name);
        await core.accounts.setRole(user.id, newRole, ctx);
        out(`${user.username} is now ${newRole}`);
        return EXIT_OK;
      };
    }
    case 'set-password': {
      const name = username();
      const password = passwordFrom(io, values, usage);
      if (password === undefined) throw new UsageError('--password or --password-stdin is required', usage);
      return async (core) => {
        const user = await core.users.getByUsername(name);
        await namingPasswordFlag(values, () => core.accounts.resetPassword(user.id, password, ctx));
        out(`password of ${user.username} changed; its sessions were revoked`);
        return EXIT_OK;
      };
    }
    case 'disable':
    case 'enable': {
      const name = username();
      return async (core) => {
        const user = await core.users.getByUsername(name);
        await core.accounts.setDisabled(user.id, sub === 'disable', ctx);
        out(`${user.username} ${sub}d`);
        return EXIT_OK;
      };
    }
    case 'delete': {
      const name = username();
      return async (core) => {
        const user = await core.users.getByUsername(name);
        await core.accounts.delete(user.id, ctx);
        out(`${user.username} deleted`);
        return EXIT_OK;
      };
    }
    case 'import':
      return importAction(io, positionals, values, usage);
    default:
      throw new UsageError(`unknown users command: ${sub}`, usageOf('users'));
  }
}

/**
 * `users import FILE [--format json|csv|vega]`: exit 0 when every row was imported or already there, 1 when
 * some were refused (a second row for one user included) or an error stopped the import part-way.
 */
async function importAction(io: CliIo, positionals: string[], values: Values, usage: string): Promise<Action> {
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) throw new UsageError('users import takes one FILE', usage);
  // Loaded for this command only: its Vega reader brings the native SQLite module.
  const { IMPORT_FORMATS, ImportFileError, ImportInterrupted, importUsers, readImportSource } = await import('./auth/import.ts');
  const format = values.format;
  if (format !== undefined && !(IMPORT_FORMATS as readonly unknown[]).includes(format)) {
    throw new ConfigError('--format', `must be one of ${IMPORT_FORMATS.join(', ')}`);
  }
  let source: ReturnType<typeof readImportSource>;
  try {
    source = readImportSource(file, format as Parameters<typeof readImportSource>[1]);
  } catch (error) {
    const reason =
      error instanceof ImportFileError ? error.message : `cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
    throw new ConfigError('FILE', `${file}: ${reason}`);
  }
  return async (core) => {
    const out = (line: string) => io.stdout.write(line + '\n');
    /** Prints the skipped rows and the counts; returns how many rows were refused. */
    const summarize = (report: Awaited<ReturnType<typeof importUsers>>, ending = ''): number => {
      const existing = report.skipped.filter((s) => s.kind === 'exists').length;
      const refused = report.skipped.length - existing;
      for (const s of report.skipped) out(`skipped ${s.ref}${s.username === null ? '' : ` (${s.username})`}: ${s.reason}`);
      out(
        `imported ${report.imported.length} of ${source.rows.length} users (${report.format}); skipped ${existing} existing, ${refused} refused${ending}`,
      );
      return refused;
    };
    let report: Awaited<ReturnType<typeof importUsers>>;
    try {
      report = await importUsers(core, source, { actorUserId: null });
    } catch (error) {
      if (!(error instanceof ImportInterrupted)) throw error;
      // The users created before the error stay: say so, and that the rest is still to do.
      const rest = error.notImported === 1 ? 'the last row was' : `the last ${error.notImported} rows were`;
      summarize(error.report, `; stopped by an error at ${error.ref}: ${rest} not imported`);
      // main reports the error itself (on stderr, exit 1) as any other runtime failure.
      throw error;
    }
    return summarize(report) > 0 ? EXIT_FAILURE : EXIT_OK;
  };
}

const KEYS_OPTIONS: ParseArgsConfig['options'] = { json: { type: 'boolean' }, now: { type: 'boolean' }, database: { type: 'string' } };

async function keys(io: CliIo, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'rotate' && sub !== 'list') throw new UsageError(`unknown keys command: ${sub ?? '(none)'}`, usageOf('keys'));
  const usage = usageOf(`keys ${sub}`);
  const { values, positionals } = parse(rest, KEYS_OPTIONS, usage);
  noPositionals(positionals, usage);
  if (values.now === true && sub !== 'rotate') throw new UsageError('--now is an option of keys rotate', usage);
  const out = (line: string) => io.stdout.write(line + '\n');
  const config = configFrom(io.env, values);
  return withCore(config, async (core) => {
    if (sub === 'rotate') {
      const now = Date.now();
      const rotation = await rotateSigningKeysAudited(
        core.store.db,
        config,
        core.audit,
        { actorUserId: null },
        { immediately: values.now === true },
        now,
      );
      if (rotation.signsFrom > now) {
        out(
          `new ${rotation.alg} signing key ${rotation.kid}; published now, signing from ${new Date(rotation.signsFrom).toISOString()} (LATCHKEY_KEY_PUBLISH_DELAY)`,
        );
      } else {
        out(`new ${rotation.alg} signing key ${rotation.kid}; running servers switch to it within 60 s`);
      }
      if (rotation.retired.length > 0)
        out(`retired ${rotation.retired.join(', ')}: they verify until ${new Date(rotation.verifyUntil).toISOString()}`);
      if (rotation.removed > 0) out(`removed ${rotation.removed} expired key(s)`);
      return EXIT_OK;
    }
    const listing = await listSigningKeys(core.store.db, config);
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    if (values.json) {
      out(
        JSON.stringify(
          listing.map((k) => ({
            kid: k.kid,
            alg: k.alg,
            state: k.state,
            created_at: iso(k.createdAt),
            retired_at: iso(k.retiredAt),
            expires_at: iso(k.expiresAt),
          })),
          null,
          2,
        ),
      );
    } else {
      for (const k of listing) {
        const until =
          k.state === 'verifying' && k.expiresAt !== null
            ? ` until ${iso(k.expiresAt)}`
            : k.state === 'signing' && k.retiredAt !== null
              ? ` until ${iso(k.retiredAt)}`
              : '';
        const created = config.jwtSecret !== undefined && config.jwtAlg === 'HS256' ? 'LATCHKEY_JWT_SECRET' : iso(k.createdAt);
        out(`${k.kid}\t${k.alg}\t${k.state}${until}\t${created}`);
      }
    }
    return EXIT_OK;
  });
}

/** The options of a command, for finding `--help` among its arguments. */
const OPTIONS_OF: Record<string, ParseArgsConfig['options']> = {
  serve: SERVE_OPTIONS,
  migrate: MIGRATE_OPTIONS,
  users: USERS_OPTIONS,
  keys: KEYS_OPTIONS,
};

/** Runs one command; returns the exit code. Writes only to `io`, reads the environment only from `io.env`. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const err = (line: string) => io.stderr.write(`latchkey: ${redactPasswords(line)}\n`);
  const [command, ...args] = argv;
  try {
    // `latchkey <command> --help` and `latchkey help <command>`: usage, exit 0, before anything else runs.
    if (command === 'help' || command === '--help' || command === '-h') {
      const topic = helpTopic(args);
      if (topic === undefined) throw new UsageError(`no such command: ${args.join(' ')}`);
      io.stdout.write(topic + '\n');
      return EXIT_OK;
    }
    if (command === 'import' && asksForHelp(args, USERS_OPTIONS)) {
      io.stdout.write(usageOf('users import') + '\n');
      return EXIT_OK;
    }
    if (command !== undefined && command in OPTIONS_OF && asksForHelp(args, OPTIONS_OF[command])) {
      const [sub] = args;
      io.stdout.write((helpTopic(sub !== undefined && !sub.startsWith('-') ? [command, sub] : [command]) ?? usageOf(command)) + '\n');
      return EXIT_OK;
    }
    dotenv.config({ path: join(io.cwd, '.env'), processEnv: io.env as dotenv.DotenvPopulateInput, quiet: true });
    switch (command) {
      case 'serve':
        return await serve(io, args);
      case 'migrate':
        return await migrate(io, args);
      case 'users':
        return await users(io, args);
      case 'keys':
        return await keys(io, args);
      case undefined:
        io.stderr.write(USAGE + '\n');
        return EXIT_USAGE;
      case 'import':
        throw new UsageError('unknown command: import (it is latchkey users import FILE)', usageOf('users import'));
      default:
        throw new UsageError(`unknown command: ${command}`);
    }
  } catch (error) {
    return report(error, err, io);
  }
}

function report(error: unknown, err: (line: string) => void, io: CliIo): number {
  if (error instanceof UsageError) {
    err(error.message);
    io.stderr.write(error.usage + '\n');
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
  err(error instanceof Error ? error.message || error.name : String(error));
  return EXIT_FAILURE;
}
