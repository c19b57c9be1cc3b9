/**
 * Latchkey's configuration: read once from the environment (and `.env`), validated, frozen.
 * Nothing else in the server reads `process.env`.
 *
 * @example
 *   const config = parseConfig(process.env); // throws ConfigError naming the variable at fault
 */
import { isIP } from 'node:net';

import { urlWithoutPassword } from './redact.ts';

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
  /**
   * Which proxies in front are trusted (SPEC §1): `false`, a hop count, or proxy addresses/CIDRs. Passed to
   * Fastify (proxy-addr), which then takes the rightmost untrusted X-Forwarded-For entry as the client.
   */
  readonly trustProxy: TrustProxy;
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
  /** `key` (default): the feed needs LATCHKEY_REVOCATION_FEED_KEY (and is closed without one); `public`: open to anyone. */
  readonly revocationFeed: 'key' | 'public';
  /** Most feed subscribers at once; past it a new subscriber gets 503 + Retry-After. */
  readonly revocationFeedMaxConnections: number;
  /** How long a client may take to send a whole request, headers and body (Fastify `requestTimeout`). */
  readonly requestTimeoutMs: number;
  /** How long a connection may sit without any bytes either way (Fastify `connectionTimeout`). */
  readonly connectionTimeoutMs: number;
  /** How long a rotated-in key is published in the JWKS before tokens are signed with it (SPEC §3). */
  readonly keyPublishDelayMs: number;
  /**
   * Where people reach Latchkey (`LATCHKEY_PUBLIC_URL`, default `http://HOST:PORT`): the base of links in mail,
   * the passkey origin and RP ID, the discovery document. An origin plus an optional path, no trailing slash.
   */
  readonly publicUrl: string;
  /** Accounts by email (SPEC §10). */
  readonly signup: SignupMode;
  /** Lower-cased; empty = any domain may sign up. */
  readonly signupEmailDomains: readonly string[];
  /** `smtp://` or `smtps://`; undefined = mail is written to the log (`mail_logged`). */
  readonly smtpUrl: string | undefined;
  readonly mailFrom: string;
  /** A folder of `<kind>.txt` / `<kind>.html` files replacing the built-in messages. */
  readonly mailTemplates: string | undefined;
  readonly verifyTtlMs: number;
  readonly resetTtlMs: number;
  /** Link template with `{kind}` and `{token}`. */
  readonly linkUrl: string;
  readonly limitMailPerAddress: Limit;
  readonly limitMailPerRecipient: Limit;
  /** `LATCHKEY_UI`: serve the hosted pages and admin console under `/ui/` (SPEC §12). */
  readonly ui: boolean;
  /** `LATCHKEY_APP_NAME`: the name in page titles and mail. */
  readonly appName: string;
  /** Who must have a second factor (SPEC §11): `optional` (default), `admins` or `all`. */
  readonly mfaPolicy: MfaPolicy;
  /** The WebAuthn relying party id: `LATCHKEY_WEBAUTHN_RP_ID`, else the host of `publicUrl`. */
  readonly webauthnRpId: string;
  /** Origins passkey ceremonies may come from: `publicUrl`'s origin plus `LATCHKEY_WEBAUTHN_ORIGINS`. */
  readonly webauthnOrigins: readonly string[];
  readonly logLevel: string;
  /**
   * Per-request access lines (`LATCHKEY_ACCESS_LOG`, default off): two JSON lines per request are about a
   * fifth of a `/verify`'s CPU (16–19 of ≈ 105 µs when profiled). Security events are logged either way.
   */
  readonly accessLog: boolean;
}

export type SignupMode = 'off' | 'open' | 'verify';
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

/** `false`, a hop count, or trusted proxy addresses/CIDRs (the shapes Fastify's `trustProxy` takes). */
export type TrustProxy = false | number | readonly string[];

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

const TRUE_WORDS = ['true', 'yes', 'on', '1'] as const;
const FALSE_WORDS = ['false', 'no', 'off', '0'] as const;

/** The shortest spelling of a duration, for messages: `1000` → `1s`, `1500` → `1500ms`. */
function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

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
    const minMs = opts.minMs ?? 1000;
    if (ms === undefined) {
      throw new ConfigError(name, `must be a duration such as 90s, 15m, 1h or 7d${opts.allowZero ? ', or 0' : ''} (got "${raw}")`);
    }
    // Say the real rule: `500ms` is well-formed, it is only too short.
    if (ms === 0 && !opts.allowZero) throw new ConfigError(name, `must be at least ${formatDuration(minMs)} (got "${raw}")`);
    if (ms !== 0 && ms < minMs) {
      throw new ConfigError(name, `must be at least ${formatDuration(minMs)}${opts.allowZero ? ', or 0' : ''} (got "${raw}")`);
    }
    return ms;
  }

  /** One rule for every on/off variable: true/false, yes/no, on/off or 1/0, in any case. */
  boolean(name: string, fallback: boolean): boolean {
    const value = this.string(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if ((TRUE_WORDS as readonly string[]).includes(value)) return true;
    if ((FALSE_WORDS as readonly string[]).includes(value)) return false;
    throw new ConfigError(name, `must be one of ${TRUE_WORDS.join(', ')} or ${FALSE_WORDS.join(', ')} (got "${value}")`);
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
    if (!match || Number(match[1]) < 1 || durationMs === undefined) {
      throw new ConfigError(name, `must be COUNT/WINDOW such as 10/1m (got "${raw}")`);
    }
    if (durationMs < 1000) throw new ConfigError(name, `the window must be at least 1s (got "${raw}")`);
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
    throw new ConfigError(name, `must be an http(s) URL such as https://auth.example.com (got "${urlWithoutPassword(value ?? fallback)}")`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new ConfigError(name, `must be an http(s) URL without query, fragment or credentials (got "${urlWithoutPassword(value ?? fallback)}")`);
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

function parseSmtpUrl(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') || url.hostname === '') {
    // The value may carry a password: never echo it.
    throw new ConfigError(name, 'must be smtp://[user:pass@]host:port or smtps://…');
  }
  return value;
}

/** `LATCHKEY_LINK_URL`: an http(s) URL template that carries `{token}` (and may carry `{kind}`). */
function parseLinkUrl(name: string, value: string | undefined, publicUrl: string): string {
  if (value === undefined) return `${publicUrl}/ui/{kind}?token={token}`;
  let ok = value.includes('{token}');
  try {
    const url = new URL(value.replaceAll('{token}', 't').replaceAll('{kind}', 'k'));
    ok &&= url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    ok = false;
  }
  if (!ok) throw new ConfigError(name, `must be an http(s) URL containing {token}, such as https://app.example.com/{kind}?token={token} (got "${value}")`);
  return value;

}

/**
 * `LATCHKEY_TRUST_PROXY`: `false`, a hop count, or a list of proxy addresses/CIDRs. `true` is one hop: trusting
 * every hop would make the leftmost, client-written X-Forwarded-For entry the client address.
 */
function parseTrustProxy(name: string, value: string | undefined): TrustProxy {
  const raw = value?.trim().toLowerCase();
  if (raw === undefined || ['false', '0', 'no', 'off'].includes(raw)) return false;
  if (['true', 'yes', 'on'].includes(raw)) return 1;
  if (/^\d{1,3}$/.test(raw)) return Number(raw);
  const entries = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const maxBits = family === 6 ? 128 : 32;
    const badBits = bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > maxBits);
    if (family === 0 || badBits || extra !== undefined) {
      throw new ConfigError(name, `must be false, a hop count, or proxy addresses/CIDRs such as 127.0.0.1,10.0.0.0/8 (got "${entry}")`);
    }
  }
  if (entries.length === 0) throw new ConfigError(name, 'must be false, a hop count, or proxy addresses/CIDRs');
  return Object.freeze(entries);
}

/** A name shown in titles and mail: printable, one line, short enough for a browser tab. */
function parseAppName(name: string, value: string): string {
  const trimmed = value.trim();
  if (trimmed.length >= 1 && trimmed.length <= 64 && !/[\u0000-\u001f\u007f]/.test(trimmed)) return trimmed;
  throw new ConfigError(name, `must be 1-64 printable characters on one line (got "${value}")`);
}

function parseDatabaseUrl(name: string, value: string): string {
  if (value === 'sqlite::memory:' || /^sqlite:.+/.test(value)) return value;
  if (/^postgres(ql)?:\/\/.+/.test(value)) {
    // Refused here, naming the variable, rather than as a bare "Invalid URL" from the driver at connect time.
    if (!URL.canParse(value)) throw new ConfigError(name, `is not a valid URL: check the port and percent-encode special characters in the user and password (got "${urlWithoutPassword(value)}")`);
    return value;
  }
  throw new ConfigError(name, `must be sqlite:PATH, sqlite::memory: or postgres://… (got "${urlWithoutPassword(value)}")`);
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
    throw new ConfigError(variable, `${what} "${urlWithoutPassword(value)}" is not a URL`);
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
    trustProxy: parseTrustProxy('LATCHKEY_TRUST_PROXY', read.string('LATCHKEY_TRUST_PROXY')),
    corsOrigins: Object.freeze(read.origins('LATCHKEY_CORS_ORIGINS')),
    limitsEnabled: read.boolean('LATCHKEY_LIMITS', true),
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
    signup: read.oneOf('LATCHKEY_SIGNUP', ['off', 'open', 'verify'], 'off'),
    signupEmailDomains: Object.freeze(read.list('LATCHKEY_SIGNUP_EMAIL_DOMAINS').map((d) => d.toLowerCase())),
    smtpUrl: parseSmtpUrl('LATCHKEY_SMTP_URL', read.string('LATCHKEY_SMTP_URL')),
    mailFrom: read.string('LATCHKEY_MAIL_FROM') ?? 'Latchkey <no-reply@localhost>',
    mailTemplates: read.string('LATCHKEY_MAIL_TEMPLATES'),
    verifyTtlMs: read.duration('LATCHKEY_VERIFY_TTL', '24h'),
    resetTtlMs: read.duration('LATCHKEY_RESET_TTL', '30m'),
    linkUrl: parseLinkUrl('LATCHKEY_LINK_URL', read.string('LATCHKEY_LINK_URL'), publicUrl),
    limitMailPerAddress: read.limit('LATCHKEY_LIMIT_MAIL_PER_ADDRESS', '5/15m'),
    limitMailPerRecipient: read.limit('LATCHKEY_LIMIT_MAIL_PER_RECIPIENT', '3/1h'),
    revocationFeed: read.oneOf('LATCHKEY_REVOCATION_FEED', ['key', 'public'], 'key'),
    revocationFeedMaxConnections: read.integer('LATCHKEY_REVOCATION_FEED_MAX_CONNECTIONS', 1000, 1, 1_000_000),
    requestTimeoutMs: read.duration('LATCHKEY_REQUEST_TIMEOUT', '30s'),
    connectionTimeoutMs: read.duration('LATCHKEY_CONNECTION_TIMEOUT', '2m'),
    keyPublishDelayMs: read.duration('LATCHKEY_KEY_PUBLISH_DELAY', '5m', { allowZero: true }),
    ui: read.boolean('LATCHKEY_UI', true),
    appName: parseAppName('LATCHKEY_APP_NAME', read.string('LATCHKEY_APP_NAME') ?? 'Latchkey'),
    ...webauthnConfig(read, publicUrl),
    mfaPolicy: read.oneOf('LATCHKEY_MFA', ['optional', 'admins', 'all'], 'optional'),
    logLevel,
    accessLog: read.boolean('LATCHKEY_ACCESS_LOG', false),
  };
  return Object.freeze(config);
}
