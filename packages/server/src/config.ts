/**
 * Latchkey's configuration: read once from the environment (and `.env`), validated, frozen.
 * Nothing else in the server reads `process.env`.
 *
 * @example
 *   const config = parseConfig(process.env); // throws ConfigError naming the variable at fault
 */

export type ApiStyle = 'flat' | 'envelope';
export type JwtAlg = 'HS256' | 'EdDSA' | 'ES256' | 'RS256';
export type PasswordHashAlg = 'argon2id' | 'bcrypt';
export type Role = 'ADMIN' | 'STANDARD';

/** A rate limit: at most `points` events in `durationMs`. */
export interface Limit {
  readonly points: number;
  readonly durationMs: number;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly databaseUrl: string;
  readonly dbPoolSize: number;
  readonly redisUrl: string | undefined;
  /** Prefix of every Redis key and channel, so deployments (and test runs) can share one Redis. */
  readonly redisPrefix: string;
  readonly apiStyle: ApiStyle;
  readonly issuer: string;
  readonly audience: string | undefined;
  readonly jwtAlg: JwtAlg;
  /** HS256 secret as given; undefined means "generate once and keep it in the database". */
  readonly jwtSecret: string | undefined;
  readonly keyEncryptionSecret: string | undefined;
  readonly accessTtlMs: number;
  readonly refreshTtlMs: number;
  readonly refreshReuseGraceMs: number;
  /** 0 = no absolute limit. */
  readonly sessionMaxAgeMs: number;
  readonly passwordHash: PasswordHashAlg;
  readonly bcryptCost: number;
  readonly adminUsername: string | undefined;
  readonly adminPassword: string | undefined;
  readonly trustProxy: boolean;
  readonly corsOrigins: readonly string[];
  readonly limitsEnabled: boolean;
  readonly limitLoginPerAddress: Limit;
  readonly limitLoginPair: Limit;
  readonly limitLoginIdentifier: Limit;
  readonly limitRefreshPerAddress: Limit;
  readonly auditRetentionMs: number;
  readonly google: GoogleConfig | undefined;
  /** Every OpenID provider users may sign in with: Google (from LATCHKEY_GOOGLE_*) first, then LATCHKEY_OIDC_PROVIDERS. */
  readonly oidcProviders: readonly OidcProviderConfig[];
  readonly allowedRedirects: readonly string[];
  readonly revocationFeedKey: string | undefined;
  /**
   * Where people reach Latchkey (`LATCHKEY_PUBLIC_URL`, default `http://HOST:PORT`): the base of links in mail,
   * the passkey origin and RP ID, the discovery document. An origin plus an optional path, no trailing slash.
   */
  readonly publicUrl: string;
  /** Who must have a second factor (SPEC §11): `optional` (default), `admins` or `all`. */
  readonly mfaPolicy: MfaPolicy;
  /** The WebAuthn relying party id: `LATCHKEY_WEBAUTHN_RP_ID`, else the host of `publicUrl`. */
  readonly webauthnRpId: string;
  /** Origins passkey ceremonies may come from: `publicUrl`'s origin plus `LATCHKEY_WEBAUTHN_ORIGINS`. */
  readonly webauthnOrigins: readonly string[];
  readonly logLevel: string;
}

export type MfaPolicy = 'optional' | 'admins' | 'all';

export interface GoogleConfig {
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly redirectUri: string | undefined;
  readonly issuer: string;
  readonly allowedDomains: readonly string[];
  readonly autoCreate: boolean;
}

export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/** One OpenID Connect provider, reached at `/api/auth/oidc/:id/...` (Google also at `/api/auth/google/...`). */
export interface OidcProviderConfig {
  /** The path segment: lower-case letters, digits, `-` and `_`. */
  readonly id: string;
  readonly name: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  /** The callback registered at the provider; derived from the request when unset. */
  readonly redirectUri: string | undefined;
  readonly scopes: readonly string[];
  /** Lower-cased; empty = any domain. */
  readonly allowedDomains: readonly string[];
  /** What `allowedDomains` is compared with: Google's `hd` claim, or the domain of the verified email. */
  readonly domainClaim: 'hd' | 'email';
  readonly autoCreate: boolean;
  readonly tokenEndpointAuthMethod: TokenEndpointAuthMethod;
}

/** A configuration value was refused. `variable` names the environment variable (or CLI flag) at fault. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `90s`, `15m`, `1h`, `7d` (and `0`) into milliseconds. */
export function parseDuration(value: string): number | undefined {
  const match = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = match[2];
  if (unit === undefined) return amount === 0 ? 0 : undefined;
  return amount * (UNIT_MS[unit] ?? 0);
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads variables from one environment, naming the variable in every refusal. */
class EnvReader {
  constructor(private readonly env: Env) {}

  string(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value === '' ? undefined : value;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.string(name);
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      throw new ConfigError(name, `must be one of ${allowed.join(', ')} (got "${value}")`);
    }
    return value as T;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.string(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new ConfigError(name, `must be a whole number from ${min} to ${max} (got "${value}")`);
    }
    return Number(value);
  }

  duration(name: string, fallback: string, opts: { allowZero?: boolean; minMs?: number } = {}): number {
    const raw = this.string(name) ?? fallback;
    const ms = parseDuration(raw);
    if (ms === undefined || (ms === 0 && !opts.allowZero) || (ms !== 0 && ms < (opts.minMs ?? 1000))) {
      throw new ConfigError(name, `must be a duration such as 90s, 15m, 1h or 7d (got "${raw}")`);
    }
    return ms;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.string(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(value)) return true;
    if (['0', 'false', 'no', 'off'].includes(value)) return false;
    throw new ConfigError(name, `must be true or false (got "${value}")`);
  }

  list(name: string): string[] {
    return (this.string(name) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }

  limit(name: string, fallback: string): Limit {
    const raw = this.string(name) ?? fallback;
    const match = /^(\d{1,9})\/(.+)$/.exec(raw.trim());
    const durationMs = match?.[2] === undefined ? undefined : parseDuration(match[2]);
    if (!match || Number(match[1]) < 1 || durationMs === undefined || durationMs < 1000) {
      throw new ConfigError(name, `must be COUNT/WINDOW such as 10/1m (got "${raw}")`);
    }
    return { points: Number(match[1]), durationMs };
  }

  origins(name: string): string[] {
    return this.list(name).map((value) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw new ConfigError(name, `"${value}" is not an origin such as https://app.example.com`);
      }
      if (url.origin === 'null' || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
        throw new ConfigError(name, `"${value}" is not an http(s) origin`);
      }
      return url.origin;
    });
  }
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The passkey relying party: its id must be the public host or a registrable suffix of it (WebAuthn §5.1.4.1). */
function webauthnConfig(read: EnvReader, publicUrl: string) {
  const host = new URL(publicUrl).hostname.replace(/^\[|\]$/g, '');
  const explicit = read.string('LATCHKEY_WEBAUTHN_RP_ID');
  // Derived, it is the public host as is (browsers refuse passkeys on an IP address, but that is no reason to refuse to start).
  const rpId = explicit ?? host;
  if (explicit !== undefined && (!/^[a-z0-9.-]+$/i.test(rpId) || (host !== rpId.toLowerCase() && !host.endsWith(`.${rpId.toLowerCase()}`)))) {
    throw new ConfigError('LATCHKEY_WEBAUTHN_RP_ID', `must be the host of LATCHKEY_PUBLIC_URL (${host}) or a parent domain of it (got "${rpId}")`);
  }
  const origins = [new URL(publicUrl).origin, ...read.origins('LATCHKEY_WEBAUTHN_ORIGINS')];
  return { webauthnRpId: rpId.toLowerCase(), webauthnOrigins: Object.freeze([...new Set(origins)]) };
}

/** `LATCHKEY_PUBLIC_URL`: an http(s) URL without query or fragment; kept without its trailing slash. */
function parsePublicUrl(name: string, value: string | undefined, host: string, port: number): string {
  const fallback = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let url: URL;
  try {
    url = new URL(value ?? fallback);
  } catch {
    throw new ConfigError(name, `must be an http(s) URL such as https://auth.example.com (got "${value}")`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new ConfigError(name, `must be an http(s) URL without query, fragment or credentials (got "${value}")`);
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

function parseDatabaseUrl(name: string, value: string): string {
  if (value === 'sqlite::memory:' || /^sqlite:.+/.test(value) || /^postgres(ql)?:\/\/.+/.test(value)) return value;
  throw new ConfigError(name, `must be sqlite:PATH, sqlite::memory: or postgres://… (got "${value}")`);
}

function parseRedisUrl(name: string, value: string | undefined): string | undefined {
  if (value === undefined || /^rediss?:\/\/.+/.test(value)) return value;
  throw new ConfigError(name, 'must be redis://… or rediss://…');
}

function parseRedisPrefix(name: string, value: string): string {
  // Printable, no spaces or glob characters: the prefix is also used to find and delete a deployment's keys.
  if (/^[A-Za-z0-9:._-]{1,64}$/.test(value)) return value;
  throw new ConfigError(name, `must be 1-64 letters, digits, ":", ".", "_" or "-" (got "${value}")`);
}

/** An issuer or redirect URL: https, or plain http for a loopback host only. */
function parseSecureUrl(variable: string, what: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, `${what} "${value}" is not a URL`);
  }
  // Plain http would let anyone on the path forge ID tokens or steal codes; it is allowed only on this machine.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw new ConfigError(variable, `${what} must be https:// (http:// only for a loopback host)`);
  }
  return value;
}

function parseGoogle(read: EnvReader): GoogleConfig | undefined {
  const clientId = read.string('LATCHKEY_GOOGLE_CLIENT_ID');
  if (clientId === undefined) return undefined;
  const issuer = parseSecureUrl('LATCHKEY_GOOGLE_ISSUER', 'the issuer', read.string('LATCHKEY_GOOGLE_ISSUER') ?? 'https://accounts.google.com');
  const redirectUri = read.string('LATCHKEY_GOOGLE_REDIRECT_URI');
  return Object.freeze({
    clientId,
    clientSecret: read.string('LATCHKEY_GOOGLE_CLIENT_SECRET'),
    redirectUri: redirectUri === undefined ? undefined : parseSecureUrl('LATCHKEY_GOOGLE_REDIRECT_URI', 'the redirect URI', redirectUri),
    issuer,
    allowedDomains: Object.freeze(read.list('LATCHKEY_GOOGLE_ALLOWED_DOMAINS').map((d) => d.toLowerCase())),
    autoCreate: read.boolean('LATCHKEY_GOOGLE_AUTO_CREATE', true),
  });
}

const PROVIDER_ID = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const PROVIDER_KEYS = [
  'id',
  'name',
  'issuer',
  'client_id',
  'client_secret',
  'redirect_uri',
  'scopes',
  'allowed_domains',
  'domain_claim',
  'auto_create',
  'token_endpoint_auth_method',
] as const;
const AUTH_METHODS: readonly TokenEndpointAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'none'];

/** Scopes always include `openid`: without it there is no ID token. */
function withOpenid(scopes: readonly string[]): readonly string[] {
  return Object.freeze(scopes.includes('openid') ? [...scopes] : ['openid', ...scopes]);
}

function googleProvider(google: GoogleConfig): OidcProviderConfig {
  return Object.freeze({
    id: 'google',
    name: 'Google',
    issuer: google.issuer,
    clientId: google.clientId,
    clientSecret: google.clientSecret,
    redirectUri: google.redirectUri,
    scopes: withOpenid(['email', 'profile']),
    allowedDomains: google.allowedDomains,
    // Google's `hd` names the Workspace domain; an email's domain alone proves nothing about the account.
    domainClaim: 'hd',
    autoCreate: google.autoCreate,
    tokenEndpointAuthMethod: google.clientSecret === undefined ? 'none' : 'client_secret_basic',
  });
}

/** `LATCHKEY_OIDC_PROVIDERS`: a JSON list of further providers, each refused with the variable, its position and the key at fault. */
function parseOidcProviders(read: EnvReader, google: GoogleConfig | undefined): OidcProviderConfig[] {
  const variable = 'LATCHKEY_OIDC_PROVIDERS';
  const providers: OidcProviderConfig[] = google === undefined ? [] : [googleProvider(google)];
  const raw = read.string(variable);
  if (raw === undefined) return providers;
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    throw new ConfigError(variable, 'must be a JSON list of providers, such as [{"id":"okta","issuer":"https://…","client_id":"…"}]');
  }
  if (!Array.isArray(list)) throw new ConfigError(variable, 'must be a JSON list of providers');
  list.forEach((entry: unknown, index) => {
    const where = `provider ${index + 1}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError(variable, `${where} must be an object`);
    const item = entry as Record<string, unknown>;
    for (const key of Object.keys(item)) {
      if (!(PROVIDER_KEYS as readonly string[]).includes(key)) {
        throw new ConfigError(variable, `${where}: unknown key "${key}" (known: ${PROVIDER_KEYS.join(', ')})`);
      }
    }
    const text = (key: string, required: boolean): string | undefined => {
      const value = item[key];
      if (value === undefined || value === null || value === '') {
        if (required) throw new ConfigError(variable, `${where}: ${key} is required`);
        return undefined;
      }
      if (typeof value !== 'string') throw new ConfigError(variable, `${where}: ${key} must be a string`);
      return value;
    };
    const words = (key: string, separator: RegExp): string[] | undefined => {
      const value = item[key];
      if (value === undefined || value === null) return undefined;
      const parts = typeof value === 'string' ? value.split(separator) : value;
      if (!Array.isArray(parts) || !parts.every((p) => typeof p === 'string')) {
        throw new ConfigError(variable, `${where}: ${key} must be a list of strings`);
      }
      return (parts as string[]).map((p) => p.trim()).filter((p) => p !== '');
    };
    const id = text('id', true) as string;
    if (!PROVIDER_ID.test(id)) throw new ConfigError(variable, `${where}: id "${id}" must be 1-32 lower-case letters, digits, - or _`);
    if (providers.some((p) => p.id === id)) {
      throw new ConfigError(variable, `${where}: id "${id}" is used twice${id === 'google' ? ' (LATCHKEY_GOOGLE_CLIENT_ID configures google)' : ''}`);
    }
    const issuer = parseSecureUrl(variable, `${where}: issuer`, text('issuer', true) as string);
    const redirectUri = text('redirect_uri', false);
    const clientSecret = text('client_secret', false);
    const domainClaim = text('domain_claim', false) ?? 'email';
    if (domainClaim !== 'hd' && domainClaim !== 'email') throw new ConfigError(variable, `${where}: domain_claim must be hd or email`);
    const method = text('token_endpoint_auth_method', false) ?? (clientSecret === undefined ? 'none' : 'client_secret_basic');
    if (!(AUTH_METHODS as readonly string[]).includes(method)) {
      throw new ConfigError(variable, `${where}: token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`);
    }
    if (method !== 'none' && clientSecret === undefined) throw new ConfigError(variable, `${where}: ${method} needs a client_secret`);
    const autoCreate = item.auto_create ?? true;
    if (typeof autoCreate !== 'boolean') throw new ConfigError(variable, `${where}: auto_create must be true or false`);
    providers.push(
      Object.freeze({
        id,
        name: text('name', false) ?? id,
        issuer,
        clientId: text('client_id', true) as string,
        clientSecret,
        redirectUri: redirectUri === undefined ? undefined : parseSecureUrl(variable, `${where}: redirect_uri`, redirectUri),
        scopes: withOpenid(words('scopes', /[\s,]+/) ?? ['email', 'profile']),
        allowedDomains: Object.freeze((words('allowed_domains', /,/) ?? []).map((d) => d.toLowerCase())),
        domainClaim,
        autoCreate,
        tokenEndpointAuthMethod: method as TokenEndpointAuthMethod,
      }),
    );
  });
  return providers;
}

/** Builds the frozen configuration from an environment. Throws {@link ConfigError} on the first bad value. */
export function parseConfig(env: Env): Config {
  const read = new EnvReader(env);
  const jwtSecret = read.string('LATCHKEY_JWT_SECRET');
  // RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (32 bytes).
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret, 'utf8') < 32) {
    throw new ConfigError('LATCHKEY_JWT_SECRET', 'must be at least 32 bytes long');
  }
  const adminUsername = read.string('LATCHKEY_ADMIN_USERNAME');
  const adminPassword = read.string('LATCHKEY_ADMIN_PASSWORD');
  if (adminPassword !== undefined && adminUsername === undefined) {
    throw new ConfigError('LATCHKEY_ADMIN_USERNAME', 'must be set when LATCHKEY_ADMIN_PASSWORD is set');
  }
  if (adminUsername !== undefined && adminPassword === undefined) {
    throw new ConfigError('LATCHKEY_ADMIN_PASSWORD', 'must be set when LATCHKEY_ADMIN_USERNAME is set');
  }
  const limits = read.string('LATCHKEY_LIMITS') ?? 'on';
  if (limits !== 'on' && limits !== 'off') throw new ConfigError('LATCHKEY_LIMITS', 'must be on or off');
  const google = parseGoogle(read);
  const logLevel = read.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info');

  const port = read.integer('PORT', 8080, 0, 65535);
  const host = read.string('HOST') ?? '127.0.0.1';
  const publicUrl = parsePublicUrl('LATCHKEY_PUBLIC_URL', read.string('LATCHKEY_PUBLIC_URL'), host, port);

  const config: Config = {
    port,
    host,
    databaseUrl: parseDatabaseUrl('DATABASE_URL', read.string('DATABASE_URL') ?? 'sqlite:./data/latchkey.db'),
    dbPoolSize: read.integer('LATCHKEY_DB_POOL', 10, 1, 1000),
    redisUrl: parseRedisUrl('REDIS_URL', read.string('REDIS_URL')),
    redisPrefix: parseRedisPrefix('LATCHKEY_REDIS_PREFIX', read.string('LATCHKEY_REDIS_PREFIX') ?? 'latchkey:'),
    apiStyle: read.oneOf('LATCHKEY_API_STYLE', ['flat', 'envelope'], 'flat'),
    issuer: read.string('LATCHKEY_ISSUER') ?? 'latchkey',
    audience: read.string('LATCHKEY_AUDIENCE'),
    jwtAlg: read.oneOf('LATCHKEY_JWT_ALG', ['HS256', 'EdDSA', 'ES256', 'RS256'], 'HS256'),
    jwtSecret,
    keyEncryptionSecret: read.string('LATCHKEY_KEY_ENCRYPTION_SECRET'),
    accessTtlMs: read.duration('LATCHKEY_ACCESS_TTL', '1h'),
    refreshTtlMs: read.duration('LATCHKEY_REFRESH_TTL', '7d'),
    refreshReuseGraceMs: read.duration('LATCHKEY_REFRESH_REUSE_GRACE', '10s', { allowZero: true, minMs: 1 }),
    sessionMaxAgeMs: read.duration('LATCHKEY_SESSION_MAX_AGE', '30d', { allowZero: true }),
    passwordHash: read.oneOf('LATCHKEY_PASSWORD_HASH', ['argon2id', 'bcrypt'], 'argon2id'),
    bcryptCost: read.integer('LATCHKEY_BCRYPT_COST', 12, 10, 15),
    adminUsername,
    adminPassword,
    trustProxy: read.boolean('LATCHKEY_TRUST_PROXY', false),
    corsOrigins: Object.freeze(read.origins('LATCHKEY_CORS_ORIGINS')),
    limitsEnabled: limits === 'on',
    limitLoginPerAddress: read.limit('LATCHKEY_LIMIT_LOGIN_PER_ADDRESS', '10/1m'),
    limitLoginPair: read.limit('LATCHKEY_LIMIT_LOGIN_PAIR', '5/15m'),
    limitLoginIdentifier: read.limit('LATCHKEY_LIMIT_LOGIN_IDENTIFIER', '100/1h'),
    limitRefreshPerAddress: read.limit('LATCHKEY_LIMIT_REFRESH_PER_ADDRESS', '60/1m'),
    auditRetentionMs: read.duration('LATCHKEY_AUDIT_RETENTION', '90d', { allowZero: true }),
    google,
    oidcProviders: Object.freeze(parseOidcProviders(read, google)),
    allowedRedirects: Object.freeze(read.origins('LATCHKEY_ALLOWED_REDIRECTS')),
    revocationFeedKey: read.string('LATCHKEY_REVOCATION_FEED_KEY'),
    publicUrl,
    ...webauthnConfig(read, publicUrl),
    mfaPolicy: read.oneOf('LATCHKEY_MFA', ['optional', 'admins', 'all'], 'optional'),
    logLevel,
  };
  return Object.freeze(config);
}
