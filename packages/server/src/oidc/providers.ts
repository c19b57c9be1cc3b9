/**
 * The configured OpenID providers (Google first, then `LATCHKEY_OIDC_PROVIDERS`) and, per provider, its
 * discovered metadata (openid-client) and JWKS (jose), fetched on first use and kept.
 *
 * @example
 *   const provider = registry.get('google'); // NotFound when not configured
 *   const configuration = await provider.configuration();
 */
import type * as client from 'openid-client';
import type { JWTVerifyGetKey } from 'jose';
import type { OidcProviderConfig } from '../config.ts';
import { NotFound } from '../errors.ts';
import { OidcSignInRefused } from './errors.ts';

export interface OidcLibraries {
  readonly client: typeof import('openid-client');
  readonly jose: typeof import('jose');
}
let librariesLoaded: Promise<OidcLibraries> | undefined;

/**
 * openid-client and jose, loaded on the first sign-in through a provider: a server with no provider
 * configured (or none used since it started) does not hold them in memory.
 */
export function oidcLibraries(): Promise<OidcLibraries> {
  librariesLoaded ??= Promise.all([import('openid-client'), import('jose')]).then(([client, jose]) => ({ client, jose }));
  return librariesLoaded;
}

/** Seconds to wait for the provider's discovery, token, userinfo and JWKS endpoints. */
const PROVIDER_TIMEOUT_S = 10;

function clientAuth(client: OidcLibraries['client'], config: OidcProviderConfig): client.ClientAuth {
  switch (config.tokenEndpointAuthMethod) {
    case 'client_secret_basic':
      return client.ClientSecretBasic(config.clientSecret);
    case 'client_secret_post':
      return client.ClientSecretPost(config.clientSecret);
    case 'none':
      return client.None();
  }
}

export class OidcProvider {
  #configuration: Promise<client.Configuration> | undefined;
  #jwks: JWTVerifyGetKey | undefined;

  constructor(readonly config: OidcProviderConfig) {}

  get id(): string {
    return this.config.id;
  }

  /** Plain http is only ever configured for a loopback issuer (config.ts refuses anything else). */
  get #insecure(): boolean {
    return new URL(this.config.issuer).protocol === 'http:';
  }

  /** The discovered configuration; a failed discovery is not kept, so the next request tries again. */
  configuration(): Promise<client.Configuration> {
    this.#configuration ??= this.#discover().catch((error: unknown) => {
      this.#configuration = undefined;
      throw error;
    });
    return this.#configuration;
  }

  async #discover(): Promise<client.Configuration> {
    const { client } = await oidcLibraries();
    let configuration: client.Configuration;
    try {
      configuration = await client.discovery(
        new URL(this.config.issuer),
        this.config.clientId,
        { token_endpoint_auth_method: this.config.tokenEndpointAuthMethod },
        clientAuth(client, this.config),
        { execute: this.#insecure ? [client.allowInsecureRequests] : [], timeout: PROVIDER_TIMEOUT_S },
      );
    } catch {
      throw new OidcSignInRefused('provider_unavailable');
    }
    // The token endpoint is reached over TLS, but checking the ID token's signature as well costs one
    // cached JWKS fetch and refuses a token that a compromised or mistaken endpoint made up.
    client.enableNonRepudiationChecks(configuration);
    return configuration;
  }

  /** The provider's signing keys, for ID tokens handed to us by a client (`POST /api/auth/google`). */
  async jwks(): Promise<JWTVerifyGetKey> {
    if (this.#jwks) return this.#jwks;
    const jwksUri = (await this.configuration()).serverMetadata().jwks_uri;
    if (jwksUri === undefined) throw new OidcSignInRefused('provider_unavailable');
    const { jose } = await oidcLibraries();
    this.#jwks = jose.createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: PROVIDER_TIMEOUT_S * 1000 });
    return this.#jwks;
  }

  /** Signature algorithms accepted for ID tokens: the provider's asymmetric ones (never `none` or HMAC). */
  async idTokenAlgorithms(): Promise<string[]> {
    const advertised = (await this.configuration()).serverMetadata().id_token_signing_alg_values_supported ?? ['RS256'];
    return advertised.filter((alg) => /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/.test(alg));
  }

  /**
   * Issuer values an ID token may carry. Google's tokens say `accounts.google.com` as often as
   * `https://accounts.google.com` (Google's "Verify the ID token" guide lists both).
   */
  get acceptedIssuers(): string[] {
    return this.config.issuer === 'https://accounts.google.com' ? [this.config.issuer, 'accounts.google.com'] : [this.config.issuer];
  }
}

export class ProviderRegistry {
  readonly #providers: ReadonlyMap<string, OidcProvider>;

  constructor(configs: readonly OidcProviderConfig[]) {
    this.#providers = new Map(configs.map((c) => [c.id, new OidcProvider(c)]));
  }

  get(id: string): OidcProvider {
    const provider = this.#providers.get(id);
    if (!provider) throw new NotFound('unknown sign-in provider');
    return provider;
  }

  list(): OidcProvider[] {
    return [...this.#providers.values()];
  }
}
