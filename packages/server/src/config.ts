/**
 * Latchkey's configuration: read once from the environment (and `.env`), validated, frozen.
 * Nothing else in the server reads `process.env`.
 *
 * @example
 *   const config = parseConfig(process.env); // throws ConfigError naming the variable at fault
 */
import { isIP } from 'node:net';

import { ConfigError, type Env, EnvReader, isLoopbackHost, type Limit, parseDuration } from './config-reader.ts';
import { type GoogleConfig, type OidcProviderConfig, parseGoogle, parseOidcProviders } from './oidc/provider-config.ts';
import { urlWithoutPassword } from './redact.ts';

export { ConfigError, isLoopbackHost, parseDuration };
export type { Limit };
export type { GoogleConfig, OidcProviderConfig, TokenEndpointAuthMethod } from './oidc/provider-config.ts';

export type ApiStyle = 'flat' | 'envelope';
export type JwtAlg = 'HS256' | 'EdDSA' | 'ES256' | 'RS256';
export type PasswordHashAlg = 'argon2id' | 'bcrypt';
export type Role = 'ADMIN' | 'STANDARD';

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

/** `false`, a hop count, or trusted proxy addresses/CIDRs (the shapes Fastify's `trustProxy` takes). */
export type TrustProxy = false | number | readonly string[];

/** The passkey relying party: its id must be the public host or a registrable suffix of it (WebAuthn §5.1.4.1). */
function webauthnConfig(read: EnvReader, publicUrl: string) {
  const host = new URL(publicUrl).hostname.replace(/^\[|\]$/g, '');
  const explicit = read.string('LATCHKEY_WEBAUTHN_RP_ID');
  // Derived, it is the public host as is (browsers refuse passkeys on an IP address, but that is no reason to refuse to start).
  const rpId = explicit ?? host;
  if (
    explicit !== undefined &&
    (!/^[a-z0-9.-]+$/i.test(rpId) || (host !== rpId.toLowerCase() && !host.endsWith(`.${rpId.toLowerCase()}`)))
  ) {
    throw new ConfigError(
      'LATCHKEY_WEBAUTHN_RP_ID',
      `must be the host of LATCHKEY_PUBLIC_URL (${host}) or a parent domain of it (got "${rpId}")`,
    );
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
    throw new ConfigError(
      name,
      `must be an http(s) URL without query, fragment or credentials (got "${urlWithoutPassword(value ?? fallback)}")`,
    );
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
  if (!ok)
    throw new ConfigError(
      name,
      `must be an http(s) URL containing {token}, such as https://app.example.com/{kind}?token={token} (got "${value}")`,
    );
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
  const entries = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
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
    if (!URL.canParse(value))
      throw new ConfigError(
        name,
        `is not a valid URL: check the port and percent-encode special characters in the user and password (got "${urlWithoutPassword(value)}")`,
      );
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
