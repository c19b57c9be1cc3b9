/**
 * The OpenID providers users may sign in with, from the environment: Google from `LATCHKEY_GOOGLE_*`, further
 * providers from `LATCHKEY_OIDC_PROVIDERS` (a JSON list), each refused with the variable, its position and the key
 * at fault.
 */
import { ConfigError, type EnvReader, parseSecureUrl } from '../config-reader.ts';

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

export function parseGoogle(read: EnvReader): GoogleConfig | undefined {
  const clientId = read.string('LATCHKEY_GOOGLE_CLIENT_ID');
  if (clientId === undefined) return undefined;
  const issuer = parseSecureUrl(
    'LATCHKEY_GOOGLE_ISSUER',
    'the issuer',
    read.string('LATCHKEY_GOOGLE_ISSUER') ?? 'https://accounts.google.com',
  );
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
export function parseOidcProviders(read: EnvReader, google: GoogleConfig | undefined): OidcProviderConfig[] {
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
      throw new ConfigError(
        variable,
        `${where}: id "${id}" is used twice${id === 'google' ? ' (LATCHKEY_GOOGLE_CLIENT_ID configures google)' : ''}`,
      );
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
