import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig, parseDuration } from '../src/config.ts';

/** Asserts that `env` is refused with a ConfigError naming `variable` (in the property and the message). */
function refuses(env: Record<string, string>, variable: string): void {
  assert.throws(
    () => parseConfig(env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected a ConfigError for ${JSON.stringify(env)}, got ${String(error)}`);
      assert.equal(error.variable, variable, JSON.stringify(env));
      assert.ok(error.message.startsWith(`${variable}: `), error.message);
      return true;
    },
  );
}

describe('parseConfig', () => {
  test('an empty environment gives the defaults of SPEC §1', () => {
    const config = parseConfig({});
    assert.equal(config.port, 8080);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.databaseUrl, 'sqlite:./data/latchkey.db');
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.apiStyle, 'flat');
    assert.equal(config.issuer, 'latchkey');
    assert.equal(config.audience, undefined);
    assert.equal(config.jwtAlg, 'HS256');
    assert.equal(config.jwtSecret, undefined);
    assert.equal(config.accessTtlMs, 60 * 60_000);
    assert.equal(config.refreshTtlMs, 7 * 24 * 60 * 60_000);
    assert.equal(config.refreshReuseGraceMs, 10_000);
    assert.equal(config.sessionMaxAgeMs, 30 * 24 * 60 * 60_000);
    assert.equal(config.passwordHash, 'argon2id');
    assert.equal(config.bcryptCost, 12);
    assert.equal(config.adminUsername, undefined);
    assert.equal(config.adminPassword, undefined);
    assert.equal(config.trustProxy, false);
    assert.deepEqual(config.corsOrigins, []);
    assert.equal(config.limitsEnabled, true);
    assert.deepEqual(config.limitLoginPerAddress, { points: 10, durationMs: 60_000 });
    assert.deepEqual(config.limitLoginPair, { points: 5, durationMs: 15 * 60_000 });
    assert.deepEqual(config.limitLoginIdentifier, { points: 100, durationMs: 60 * 60_000 });
    assert.deepEqual(config.limitRefreshPerAddress, { points: 60, durationMs: 60_000 });
    assert.equal(config.google, undefined);
    assert.deepEqual(config.allowedRedirects, []);
    assert.equal(config.logLevel, 'info');
  });

  test('the configuration is frozen', () => {
    const config = parseConfig({ LATCHKEY_CORS_ORIGINS: 'https://app.example.com' });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.corsOrigins));
    assert.throws(() => {
      (config as { port: number }).port = 1;
    }, TypeError);
  });

  test('every documented variable is read', () => {
    const config = parseConfig({
      PORT: '9090',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/latchkey',
      REDIS_URL: 'redis://127.0.0.1:6379',
      LATCHKEY_API_STYLE: 'envelope',
      LATCHKEY_ISSUER: 'Vega AI',
      LATCHKEY_AUDIENCE: 'api://orders',
      LATCHKEY_JWT_ALG: 'EdDSA',
      LATCHKEY_ACCESS_TTL: '15m',
      LATCHKEY_REFRESH_TTL: '72h',
      LATCHKEY_REFRESH_REUSE_GRACE: '0',
      LATCHKEY_SESSION_MAX_AGE: '0',
      LATCHKEY_PASSWORD_HASH: 'bcrypt',
      LATCHKEY_BCRYPT_COST: '10',
      LATCHKEY_ADMIN_USERNAME: 'boss',
      LATCHKEY_ADMIN_PASSWORD: 'a long admin passphrase',
      LATCHKEY_TRUST_PROXY: 'true',
      LATCHKEY_CORS_ORIGINS: 'https://App.Example.com/some/path, http://localhost:5173',
      LATCHKEY_LIMITS: 'off',
      LATCHKEY_GOOGLE_CLIENT_ID: 'client-id',
      LATCHKEY_GOOGLE_ALLOWED_DOMAINS: 'Example.com,corp.example',
      LATCHKEY_ALLOWED_REDIRECTS: 'https://app.example.com',
      LOG_LEVEL: 'warn',
    });
    assert.equal(config.port, 9090);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.databaseUrl, 'postgres://postgres@127.0.0.1:5432/latchkey');
    assert.equal(config.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(config.apiStyle, 'envelope');
    assert.equal(config.issuer, 'Vega AI');
    assert.equal(config.audience, 'api://orders');
    assert.equal(config.jwtAlg, 'EdDSA');
    assert.equal(config.accessTtlMs, 15 * 60_000);
    assert.equal(config.refreshTtlMs, 72 * 60 * 60_000);
    assert.equal(config.refreshReuseGraceMs, 0);
    assert.equal(config.sessionMaxAgeMs, 0);
    assert.equal(config.passwordHash, 'bcrypt');
    assert.equal(config.bcryptCost, 10);
    assert.equal(config.adminUsername, 'boss');
    assert.equal(config.adminPassword, 'a long admin passphrase');
    assert.equal(config.trustProxy, true);
    // Origins are normalised: scheme and host lower-cased, any path dropped.
    assert.deepEqual(config.corsOrigins, ['https://app.example.com', 'http://localhost:5173']);
    assert.equal(config.limitsEnabled, false);
    assert.equal(config.google?.clientId, 'client-id');
    assert.equal(config.google?.issuer, 'https://accounts.google.com');
    assert.deepEqual(config.google?.allowedDomains, ['example.com', 'corp.example']);
    assert.deepEqual(config.allowedRedirects, ['https://app.example.com']);
    assert.equal(config.logLevel, 'warn');
  });

  test('an empty value counts as unset (a blank line in .env)', () => {
    const config = parseConfig({ PORT: '', LATCHKEY_API_STYLE: '', LATCHKEY_ACCESS_TTL: '' });
    assert.equal(config.port, 8080);
    assert.equal(config.apiStyle, 'flat');
    assert.equal(config.accessTtlMs, 3_600_000);
  });

  test('durations: 90s, 15m, 1h, 7d, and 0 only where SPEC allows it', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('15m'), 900_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('7d'), 604_800_000);
    assert.equal(parseDuration('0'), 0);
    for (const bad of ['soon', '1w', '-5m', '1.5h', '15', 'm', '15 m', '1h30m']) assert.equal(parseDuration(bad), undefined, bad);

    assert.equal(parseConfig({ LATCHKEY_ACCESS_TTL: '90s' }).accessTtlMs, 90_000);
    assert.equal(parseConfig({ LATCHKEY_REFRESH_TTL: '7d' }).refreshTtlMs, 604_800_000);
    assert.equal(parseConfig({ LATCHKEY_SESSION_MAX_AGE: '0' }).sessionMaxAgeMs, 0);
    assert.equal(parseConfig({ LATCHKEY_REFRESH_REUSE_GRACE: '0' }).refreshReuseGraceMs, 0);
    // A token that lives 0 s (or less than a second) is never usable.
    refuses({ LATCHKEY_ACCESS_TTL: '0' }, 'LATCHKEY_ACCESS_TTL');
    refuses({ LATCHKEY_ACCESS_TTL: '500ms' }, 'LATCHKEY_ACCESS_TTL');
    refuses({ LATCHKEY_REFRESH_TTL: '0' }, 'LATCHKEY_REFRESH_TTL');
    refuses({ LATCHKEY_ACCESS_TTL: 'soon' }, 'LATCHKEY_ACCESS_TTL');
    refuses({ LATCHKEY_REFRESH_TTL: '1w' }, 'LATCHKEY_REFRESH_TTL');
    refuses({ LATCHKEY_REFRESH_REUSE_GRACE: 'ten seconds' }, 'LATCHKEY_REFRESH_REUSE_GRACE');
    refuses({ LATCHKEY_SESSION_MAX_AGE: '-1d' }, 'LATCHKEY_SESSION_MAX_AGE');
  });

  test('limits are COUNT/WINDOW', () => {
    assert.deepEqual(parseConfig({ LATCHKEY_LIMIT_LOGIN_PER_ADDRESS: '3/90s' }).limitLoginPerAddress, { points: 3, durationMs: 90_000 });
    assert.deepEqual(parseConfig({ LATCHKEY_LIMIT_LOGIN_PAIR: '2/1h' }).limitLoginPair, { points: 2, durationMs: 3_600_000 });
    assert.deepEqual(parseConfig({ LATCHKEY_LIMIT_LOGIN_IDENTIFIER: '1000/1d' }).limitLoginIdentifier, { points: 1000, durationMs: 86_400_000 });
    assert.deepEqual(parseConfig({ LATCHKEY_LIMIT_REFRESH_PER_ADDRESS: '600/10m' }).limitRefreshPerAddress, { points: 600, durationMs: 600_000 });
    for (const bad of ['10', '0/1m', 'ten/1m', '10/soon', '10/0', '10/500ms', '10/1m/2', '-1/1m']) {
      refuses({ LATCHKEY_LIMIT_LOGIN_PER_ADDRESS: bad }, 'LATCHKEY_LIMIT_LOGIN_PER_ADDRESS');
    }
    refuses({ LATCHKEY_LIMIT_LOGIN_PAIR: '5' }, 'LATCHKEY_LIMIT_LOGIN_PAIR');
    refuses({ LATCHKEY_LIMIT_LOGIN_IDENTIFIER: '100/forever' }, 'LATCHKEY_LIMIT_LOGIN_IDENTIFIER');
    refuses({ LATCHKEY_LIMIT_REFRESH_PER_ADDRESS: '/1m' }, 'LATCHKEY_LIMIT_REFRESH_PER_ADDRESS');
    refuses({ LATCHKEY_LIMITS: 'maybe' }, 'LATCHKEY_LIMITS');
  });

  test('the HS256 secret must be at least 32 bytes of UTF-8', () => {
    refuses({ LATCHKEY_JWT_SECRET: 'x'.repeat(31) }, 'LATCHKEY_JWT_SECRET');
    assert.equal(parseConfig({ LATCHKEY_JWT_SECRET: 'x'.repeat(32) }).jwtSecret, 'x'.repeat(32));
    // Bytes, not characters: ten euro signs are 30 bytes, eleven are 33.
    refuses({ LATCHKEY_JWT_SECRET: '€'.repeat(10) }, 'LATCHKEY_JWT_SECRET');
    assert.equal(parseConfig({ LATCHKEY_JWT_SECRET: '€'.repeat(11) }).jwtSecret, '€'.repeat(11));
  });

  test('each bad value is refused naming its variable', () => {
    const cases: [Record<string, string>, string][] = [
      [{ LATCHKEY_API_STYLE: 'json' }, 'LATCHKEY_API_STYLE'],
      [{ LATCHKEY_API_STYLE: 'Flat' }, 'LATCHKEY_API_STYLE'],
      [{ LATCHKEY_JWT_ALG: 'none' }, 'LATCHKEY_JWT_ALG'],
      [{ LATCHKEY_JWT_ALG: 'hs256' }, 'LATCHKEY_JWT_ALG'],
      [{ LATCHKEY_JWT_ALG: 'HS512' }, 'LATCHKEY_JWT_ALG'],
      [{ PORT: 'http' }, 'PORT'],
      [{ PORT: '65536' }, 'PORT'],
      [{ PORT: '-1' }, 'PORT'],
      [{ PORT: '80.5' }, 'PORT'],
      [{ DATABASE_URL: 'mysql://localhost/latchkey' }, 'DATABASE_URL'],
      [{ DATABASE_URL: 'sqlite:' }, 'DATABASE_URL'],
      [{ LATCHKEY_PASSWORD_HASH: 'md5' }, 'LATCHKEY_PASSWORD_HASH'],
      [{ LATCHKEY_BCRYPT_COST: '9' }, 'LATCHKEY_BCRYPT_COST'],
      [{ LATCHKEY_BCRYPT_COST: '16' }, 'LATCHKEY_BCRYPT_COST'],
      [{ LATCHKEY_TRUST_PROXY: 'maybe' }, 'LATCHKEY_TRUST_PROXY'],
      [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
      [{ LATCHKEY_CORS_ORIGINS: 'app.example.com' }, 'LATCHKEY_CORS_ORIGINS'],
      [{ LATCHKEY_CORS_ORIGINS: 'ftp://files.example.com' }, 'LATCHKEY_CORS_ORIGINS'],
      [{ LATCHKEY_ALLOWED_REDIRECTS: 'javascript:alert(1)' }, 'LATCHKEY_ALLOWED_REDIRECTS'],
      // Half of the admin pair names the half that is missing.
      [{ LATCHKEY_ADMIN_USERNAME: 'boss' }, 'LATCHKEY_ADMIN_PASSWORD'],
      [{ LATCHKEY_ADMIN_PASSWORD: 'a long admin passphrase' }, 'LATCHKEY_ADMIN_USERNAME'],
      // Plain http to a remote issuer would let anyone on the path forge ID tokens.
      [{ LATCHKEY_GOOGLE_CLIENT_ID: 'id', LATCHKEY_GOOGLE_ISSUER: 'http://accounts.example.com' }, 'LATCHKEY_GOOGLE_ISSUER'],
      [{ LATCHKEY_GOOGLE_CLIENT_ID: 'id', LATCHKEY_GOOGLE_ISSUER: 'http://10.0.0.8:9000' }, 'LATCHKEY_GOOGLE_ISSUER'],
      [{ LATCHKEY_GOOGLE_CLIENT_ID: 'id', LATCHKEY_GOOGLE_ISSUER: 'not a url' }, 'LATCHKEY_GOOGLE_ISSUER'],
      [{ LATCHKEY_GOOGLE_CLIENT_ID: 'id', LATCHKEY_GOOGLE_AUTO_CREATE: 'sometimes' }, 'LATCHKEY_GOOGLE_AUTO_CREATE'],
    ];
    for (const [env, variable] of cases) refuses(env, variable);
  });

  test('an http:// issuer is allowed for a loopback OpenID provider only', () => {
    for (const issuer of ['http://127.0.0.1:9000', 'http://localhost:9000/realms/dev', 'http://[::1]:9000', 'https://accounts.google.com']) {
      assert.equal(parseConfig({ LATCHKEY_GOOGLE_CLIENT_ID: 'id', LATCHKEY_GOOGLE_ISSUER: issuer }).google?.issuer, issuer);
    }
  });
});

describe('LATCHKEY_PUBLIC_URL', () => {
  test('defaults to http://HOST:PORT, brackets an IPv6 host, and drops a trailing slash', () => {
    assert.equal(parseConfig({}).publicUrl, 'http://127.0.0.1:8080');
    assert.equal(parseConfig({ HOST: '::1', PORT: '9000' }).publicUrl, 'http://[::1]:9000');
    assert.equal(parseConfig({ LATCHKEY_PUBLIC_URL: 'https://auth.example.com/' }).publicUrl, 'https://auth.example.com');
    assert.equal(parseConfig({ LATCHKEY_PUBLIC_URL: 'https://example.com/auth/' }).publicUrl, 'https://example.com/auth');
  });

  test('refuses what is not a plain http(s) URL', () => {
    for (const value of ['auth.example.com', 'ftp://example.com', 'https://example.com/?a=1', 'https://u:p@example.com', 'https://example.com/#x']) {
      refuses({ LATCHKEY_PUBLIC_URL: value }, 'LATCHKEY_PUBLIC_URL');
    }
  });
});

describe('LATCHKEY_UI, LATCHKEY_APP_NAME and LATCHKEY_SIGNUP (SPEC §10, §12)', () => {
  test('the pages are on, named Latchkey, and sign-up is off by default', () => {
    const config = parseConfig({});
    assert.equal(config.ui, true);
    assert.equal(config.appName, 'Latchkey');
    assert.equal(config.signup, 'off');
  });

  test('each is read', () => {
    const config = parseConfig({ LATCHKEY_UI: 'off', LATCHKEY_APP_NAME: '  Acme Accounts ', LATCHKEY_SIGNUP: 'verify' });
    assert.equal(config.ui, false);
    assert.equal(config.appName, 'Acme Accounts');
    assert.equal(config.signup, 'verify');
    assert.equal(parseConfig({ LATCHKEY_UI: 'on' }).ui, true);
    assert.equal(parseConfig({ LATCHKEY_SIGNUP: 'open' }).signup, 'open');
  });

  test('a bad value names the variable', () => {
    refuses({ LATCHKEY_UI: 'sometimes' }, 'LATCHKEY_UI');
    refuses({ LATCHKEY_SIGNUP: 'yes' }, 'LATCHKEY_SIGNUP');
    refuses({ LATCHKEY_APP_NAME: 'two\nlines' }, 'LATCHKEY_APP_NAME');
    refuses({ LATCHKEY_APP_NAME: 'x'.repeat(65) }, 'LATCHKEY_APP_NAME');
    refuses({ LATCHKEY_APP_NAME: '   ' }, 'LATCHKEY_APP_NAME');
  });
});
