/**
 * Assembles Latchkey's domain from a configuration: the store (migrated), keys, tokens, sessions,
 * users, limits and audit. The HTTP app and the CLI both start here.
 *
 * @example
 *   const core = await openCore(parseConfig(process.env));
 *   // …
 *   await core.close();
 */
import { randomBytes } from 'node:crypto';
import { AccountService } from './auth/accounts.ts';
import { EmailLinks } from './auth/email-links.ts';
import { Signup } from './auth/signup.ts';
import { KeyRing } from './auth/keys.ts';
import { PasswordLogin } from './auth/login.ts';
import { PasswordCheck } from './auth/password-check.ts';
import { type Argon2Cost, PasswordHasher, checkNewPassword } from './auth/passwords.ts';
import { RevocationList, type RevocationBus } from './auth/revocations.ts';
import { SessionService } from './auth/sessions.ts';
import { TokenService } from './auth/tokens.ts';
import { usernameKey } from './auth/identifiers.ts';
import { UserStore } from './auth/users.ts';
import { AuditLog } from './audit.ts';
import { ConfigError, type Config } from './config.ts';
import { Conflict, RefusedValue } from './errors.ts';
import { AbuseLimiter, type LimiterFactory, memoryLimiters } from './limits/abuse.ts';
import { Mail } from './mail/mail.ts';
import { loadTemplates } from './mail/templates.ts';
import { Metrics } from './metrics.ts';
import { type SecondFactors, createSecondFactors } from './mfa/factors.ts';
import { openStore, StoreOpenError, type Store } from './store/database.ts';

export interface CoreOptions {
  /** Where rate-limit counters live; memory by default. */
  readonly limiters?: LimiterFactory;
  /** Pushes revocations to other instances at once (Redis pub/sub). */
  readonly revocationBus?: RevocationBus;
  /** Run background jobs (revocation polling, key reloads, pruning). The CLI's one-shot commands don't. */
  readonly background?: boolean;
  /** Apply pending migrations (default). A cluster worker doesn't: its primary did, once, before forking. */
  readonly migrate?: boolean;
  readonly metrics?: Metrics;
  /**
   * argon2id's cost for new hashes: SPEC §1's OWASP parameters unless given. Not a setting (no environment
   * variable reaches it): the test suite lowers it so that its thousands of logins are not minutes of argon2,
   * and keeps SPEC's cost where a test is about hashing. A stored hash is verified with its own parameters.
   */
  readonly argon2Cost?: Argon2Cost;
}

export interface Core {
  readonly config: Config;
  readonly store: Store;
  readonly hasher: PasswordHasher;
  readonly tokens: TokenService;
  readonly users: UserStore;
  readonly sessions: SessionService;
  readonly accounts: AccountService;
  readonly passwordLogin: PasswordLogin;
  /** Limits, audits and verifies every typed password: login and `checkCurrentPassword` (auth/password-check.ts). */
  readonly passwordCheck: PasswordCheck;
  /** TOTP, recovery codes, passkeys and the second step of sign-in (SPEC §11). */
  readonly mfa: SecondFactors;
  readonly revocations: RevocationList;
  readonly limiter: AbuseLimiter;
  readonly audit: AuditLog;
  readonly metrics: Metrics;
  /** Accounts by email (SPEC §10): the outbox and its sender, links, sign-up. */
  readonly mail: Mail;
  readonly emailLinks: EmailLinks;
  readonly signup: Signup;
  /** Named probes for `/readyz`; each resolves when its dependency answers. */
  readiness(): Readonly<Record<string, () => Promise<void>>>;
  /** Adds a `/readyz` probe (Redis, when configured). */
  addReadinessProbe(name: string, probe: () => Promise<void>): void;
  /** Re-reads the signing keys (picks up `latchkey keys rotate`) as of `now`; returns true when they changed. */
  reloadKeys(now?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** How often a running server looks for rotated keys; SPEC §1 promises pickup within 60 s. */
const KEY_RELOAD_MS = 30_000;
const PRUNE_MS = 60 * 60_000;

export async function openCore(config: Config, options: CoreOptions = {}): Promise<Core> {
  // Read before anything is opened: a bad template folder stops the start naming LATCHKEY_MAIL_TEMPLATES.
  const templates = loadTemplates(config.mailTemplates);
  const store = await openStore(config.databaseUrl, { poolSize: config.dbPoolSize });
  try {
    // A worker that does not migrate still finds out here, with the database named, that it cannot reach it.
    if (options.migrate ?? true) await store.migrate();
    else await store.ping();
  } catch (error) {
    await store.close();
    throw StoreOpenError.describes(error) && !(error instanceof StoreOpenError) ? new StoreOpenError(config.databaseUrl, error) : error;
  }
  const { db } = store;
  const metrics = options.metrics ?? new Metrics();
  const hasher = new PasswordHasher({
    algorithm: config.passwordHash,
    bcryptCost: config.bcryptCost,
    ...(options.argon2Cost === undefined ? {} : { argon2Cost: options.argon2Cost }),
  });
  const tokens = new TokenService(config, await KeyRing.load(db, config));
  const audit = new AuditLog(db);
  const revocations = new RevocationList(db);
  await revocations.poll();
  if (options.revocationBus) await revocations.attachBus(options.revocationBus);
  const users = new UserStore(db, hasher, config.passwordHash);
  const sessions = new SessionService(db, config, tokens, revocations, audit, store.engine);
  const limiter = new AbuseLimiter(config, options.limiters ?? memoryLimiters);
  const passwordCheck = new PasswordCheck({ hasher, limiter, audit, metrics });
  const accounts = new AccountService(users, sessions, hasher, audit, passwordCheck);
  const mfa = createSecondFactors(db, { config, users, hasher, sessions, limiter, passwordCheck, audit, metrics });
  const passwordLogin = new PasswordLogin({
    users,
    hasher,
    sessions,
    passwordCheck,
    audit,
    metrics,
    requireVerifiedEmail: config.signup === 'verify',
    secondStep: mfa.secondStep,
  });
  const mail = new Mail(db, config, metrics.registry, templates, options.limiters);
  const emailLinks = new EmailLinks({
    db,
    config,
    users,
    hasher,
    sessions,
    passwordCheck,
    audit,
    outbox: mail.outbox,
    templates: mail.templates,
    limits: mail.limits,
    wake: () => mail.wake(),
    secondStep: mfa.secondStep,
  });
  const signup = new Signup({ config, users, hasher, sessions, audit, limits: mail.limits, links: emailLinks });

  const timers: NodeJS.Timeout[] = [];
  let pruning: Promise<void> | undefined;
  const probes: Record<string, () => Promise<void>> = { database: () => store.ping() };
  const reloadKeys = async (now = Date.now()): Promise<boolean> => {
    const ring = await KeyRing.load(db, config, now);
    if (ring.fingerprint === tokens.keyRing.fingerprint) return false;
    tokens.useKeyRing(ring);
    return true;
  };
  if (options.background ?? true) {
    revocations.start(1000);
    // One pass deletes what has expired, one table after another on one pooled connection (run side by side,
    // the four deletes opened four database connections at every start); a pass still running skips the next.
    const prune = () => {
      pruning ??= (async () => {
        for (const step of [
          () => sessions.pruneExpired(),
          () => audit.prune(config.auditRetentionMs),
          () => mail.prune(),
          () => mfa.challenges.prune(),
        ]) {
          await step().catch(() => {});
        }
      })().finally(() => (pruning = undefined));
    };
    timers.push(setInterval(() => void reloadKeys().catch(() => {}), KEY_RELOAD_MS).unref());
    // A token signed by a key this instance has not loaded yet (another instance saw a rotation first):
    // re-read the keys at once, at most once a second, instead of refusing such tokens for up to 30 s.
    let lastUnknownKeyReload = 0;
    tokens.onUnknownKey(() => {
      if (Date.now() - lastUnknownKeyReload < 1000) return;
      lastUnknownKeyReload = Date.now();
      void reloadKeys().catch(() => {});
    });
    timers.push(setInterval(prune, PRUNE_MS).unref());
    prune();
  }

  return {
    config,
    store,
    hasher,
    tokens,
    users,
    sessions,
    accounts,
    passwordLogin,
    passwordCheck,
    mfa,
    revocations,
    limiter,
    audit,
    metrics,
    mail,
    emailLinks,
    signup,
    reloadKeys,
    readiness: () => probes,
    addReadinessProbe(name, probe) {
      probes[name] = probe;
    },
    async close() {
      for (const timer of timers) clearInterval(timer);
      await pruning;
      await mail.stop();
      await revocations.stop();
      await store.close();
    },
  };
}

/** Refuses a weak LATCHKEY_ADMIN_PASSWORD (exit 2 naming it) before the server starts listening. */
export function checkBootstrapAdmin(config: Config): void {
  if (config.adminPassword === undefined) return;
  try {
    checkNewPassword(config.adminPassword, config.passwordHash);
  } catch (error) {
    if (error instanceof RefusedValue) throw new ConfigError('LATCHKEY_ADMIN_PASSWORD', error.message);
    throw error;
  }
}

/**
 * Creates the first administrator (SPEC §1): the configured one if no user of that name exists and this
 * database never created it before (an admin that was deleted stays deleted), or on an empty database
 * `admin` with a random password. Returns the generated password, to be printed once. `serve` calls it
 * once the server listens, so that a start that fails never creates a password nobody saw.
 */
export async function bootstrapAdmin(core: Core): Promise<{ username: string; generatedPassword?: string } | undefined> {
  const { config, accounts, users } = core;
  if (config.adminUsername !== undefined && config.adminPassword !== undefined) {
    checkBootstrapAdmin(config);
    const { db } = core.store;
    const key = usernameKey(config.adminUsername);
    const recorded = await db.selectFrom('bootstrapped_admins').select('username_key').where('username_key', '=', key).executeTakeFirst();
    if (recorded !== undefined) return undefined;
    let created = false;
    if (!(await users.findByUsername(config.adminUsername))) {
      try {
        await accounts.create({ username: config.adminUsername, password: config.adminPassword, role: 'ADMIN' });
        created = true;
      } catch (error) {
        if (error instanceof RefusedValue) throw new ConfigError('LATCHKEY_ADMIN_USERNAME', error.message);
        if (!(error instanceof Conflict)) throw error; // a Conflict: another instance created it first
      }
    }
    // Recorded also when the user was already there (a database from before this record existed, or an
    // instance starting beside this one): from now on, deleting it is final. Idempotent across instances.
    await db
      .insertInto('bootstrapped_admins')
      .values({ username_key: key, created_at: Date.now() })
      .onConflict((oc) => oc.column('username_key').doNothing())
      .execute();
    return created ? { username: config.adminUsername } : undefined;
  }
  if ((await users.count()) > 0) return undefined;
  const generatedPassword = randomBytes(18).toString('base64url');
  try {
    await accounts.create({ username: 'admin', password: generatedPassword, role: 'ADMIN' });
  } catch (error) {
    if (error instanceof Conflict) return undefined; // another instance created it first
    throw error;
  }
  return { username: 'admin', generatedPassword };
}
