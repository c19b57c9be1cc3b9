import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config.ts';

const GOOGLE = { LATCHKEY_GOOGLE_CLIENT_ID: 'gid', LATCHKEY_GOOGLE_CLIENT_SECRET: 'gsecret' };

function refused(env: Record<string, string>, variable: string, message: RegExp): void {
  assert.throws(
    () => parseConfig(env),
    (error: unknown) => error instanceof ConfigError && error.variable === variable && message.test(error.message),
    `${JSON.stringify(env)} should be refused naming ${variable}`,
  );
}

const providers = (list: unknown) => ({ LATCHKEY_OIDC_PROVIDERS: JSON.stringify(list) });
const okta = { id: 'okta', issuer: 'https://example.okta.com', client_id: 'okta-id', client_secret: 'okta-secret' };

describe('OpenID provider configuration', () => {
  test('no Google client id and no list: no providers', () => {
    assert.deepEqual(parseConfig({}).oidcProviders, []);
  });

  test('Google is the preset: Google issuer, openid email profile, hd for domains, sign-up on by default', () => {
    const [google, ...rest] = parseConfig({ ...GOOGLE, LATCHKEY_GOOGLE_ALLOWED_DOMAINS: 'Example.com, corp.example' }).oidcProviders;
    assert.deepEqual(rest, []);
    assert.deepEqual(google, {
      id: 'google',
      name: 'Google',
      issuer: 'https://accounts.google.com',
      clientId: 'gid',
      clientSecret: 'gsecret',
      redirectUri: undefined,
      scopes: ['openid', 'email', 'profile'],
      allowedDomains: ['example.com', 'corp.example'],
      domainClaim: 'hd',
      autoCreate: true,
      tokenEndpointAuthMethod: 'client_secret_basic',
    });
    assert.equal(parseConfig({ ...GOOGLE, LATCHKEY_GOOGLE_AUTO_CREATE: 'false' }).oidcProviders[0]?.autoCreate, false);
  });

  test('further providers come from LATCHKEY_OIDC_PROVIDERS, after Google, with defaults', () => {
    const list = parseConfig({
      ...GOOGLE,
      ...providers([
        okta,
        {
          id: 'kc',
          name: 'Keycloak',
          issuer: 'http://127.0.0.1:8081/realms/x',
          client_id: 'pub',
          scopes: 'email groups',
          allowed_domains: ['Corp.example'],
          auto_create: false,
        },
      ]),
    }).oidcProviders;
    assert.deepEqual(
      list.map((p) => p.id),
      ['google', 'okta', 'kc'],
    );
    assert.equal(list[1]?.name, 'okta');
    assert.deepEqual(list[1]?.scopes, ['openid', 'email', 'profile']);
    assert.equal(list[1]?.domainClaim, 'email');
    assert.equal(list[1]?.tokenEndpointAuthMethod, 'client_secret_basic');
    assert.equal(list[2]?.name, 'Keycloak');
    assert.deepEqual(list[2]?.scopes, ['openid', 'email', 'groups']);
    assert.deepEqual(list[2]?.allowedDomains, ['corp.example']);
    assert.equal(list[2]?.autoCreate, false);
    assert.equal(list[2]?.tokenEndpointAuthMethod, 'none');
    assert.ok(Object.isFrozen(list) && Object.isFrozen(list[1]));
  });

  test('an http issuer or redirect URI is refused unless its host is a loopback one', () => {
    refused({ ...GOOGLE, LATCHKEY_GOOGLE_ISSUER: 'http://accounts.example.com' }, 'LATCHKEY_GOOGLE_ISSUER', /https:\/\//);
    refused({ ...GOOGLE, LATCHKEY_GOOGLE_ISSUER: 'not a url' }, 'LATCHKEY_GOOGLE_ISSUER', /not a URL/);
    refused(
      { ...GOOGLE, LATCHKEY_GOOGLE_REDIRECT_URI: 'http://auth.example.com/api/auth/google/callback' },
      'LATCHKEY_GOOGLE_REDIRECT_URI',
      /https:\/\//,
    );
    refused(
      providers([{ ...okta, issuer: 'http://example.okta.com' }]),
      'LATCHKEY_OIDC_PROVIDERS',
      /provider 1: issuer must be https:\/\//,
    );
    refused(
      providers([{ ...okta, redirect_uri: 'http://auth.example.com/cb' }]),
      'LATCHKEY_OIDC_PROVIDERS',
      /redirect_uri must be https:\/\//,
    );
    for (const host of ['localhost', '127.0.0.1', '[::1]']) {
      assert.equal(
        parseConfig({ ...GOOGLE, LATCHKEY_GOOGLE_ISSUER: `http://${host}:9000` }).oidcProviders[0]?.issuer,
        `http://${host}:9000`,
      );
    }
  });

  test('a malformed provider list is refused, naming the variable, the provider and the key', () => {
    const cases: [string, RegExp][] = [
      ['{not json', /JSON list/],
      ['{"id":"okta"}', /JSON list/],
      ['["okta"]', /provider 1 must be an object/],
    ];
    for (const [raw, message] of cases) refused({ LATCHKEY_OIDC_PROVIDERS: raw }, 'LATCHKEY_OIDC_PROVIDERS', message);
    refused(providers([{ ...okta, clientid: 'typo' }]), 'LATCHKEY_OIDC_PROVIDERS', /provider 1: unknown key "clientid"/);
    refused(
      providers([okta, { ...okta, id: 'two', client_id: undefined }]),
      'LATCHKEY_OIDC_PROVIDERS',
      /provider 2: client_id is required/,
    );
    refused(providers([{ ...okta, issuer: undefined }]), 'LATCHKEY_OIDC_PROVIDERS', /issuer is required/);
    refused(providers([{ ...okta, id: 'Okta Prod' }]), 'LATCHKEY_OIDC_PROVIDERS', /id "Okta Prod" must be/);
    refused(providers([okta, okta]), 'LATCHKEY_OIDC_PROVIDERS', /provider 2: id "okta" is used twice/);
    refused(
      { ...GOOGLE, ...providers([{ ...okta, id: 'google' }]) },
      'LATCHKEY_OIDC_PROVIDERS',
      /LATCHKEY_GOOGLE_CLIENT_ID configures google/,
    );
    refused(providers([{ ...okta, client_id: 42 }]), 'LATCHKEY_OIDC_PROVIDERS', /client_id must be a string/);
    refused(providers([{ ...okta, scopes: [1] }]), 'LATCHKEY_OIDC_PROVIDERS', /scopes must be a list of strings/);
    refused(providers([{ ...okta, auto_create: 'no' }]), 'LATCHKEY_OIDC_PROVIDERS', /auto_create must be true or false/);
    refused(providers([{ ...okta, domain_claim: 'upn' }]), 'LATCHKEY_OIDC_PROVIDERS', /domain_claim must be hd or email/);
    refused(
      providers([{ ...okta, token_endpoint_auth_method: 'private_key_jwt' }]),
      'LATCHKEY_OIDC_PROVIDERS',
      /token_endpoint_auth_method must be one of/,
    );
    refused(
      providers([{ ...okta, client_secret: undefined, token_endpoint_auth_method: 'client_secret_post' }]),
      'LATCHKEY_OIDC_PROVIDERS',
      /needs a client_secret/,
    );
  });

  test('a refusal never echoes a client secret', () => {
    try {
      parseConfig(providers([{ ...okta, client_secret: 'super-secret-value', issuer: 'http://evil.example' }]));
      assert.fail('should be refused');
    } catch (error) {
      assert.doesNotMatch(String(error), /super-secret-value/);
    }
  });
});
