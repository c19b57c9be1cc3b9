import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig, parseDuration } from '../src/config.ts';
import { redactPasswords, urlWithoutPassword } from '../src/redact.ts';

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
    // `true` is one hop (SPEC §1): trusting every hop would let a client write its own address.
    assert.equal(config.trustProxy, 1);
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
    assert.deepEqual(parseConfig({ LATCHKEY_LIMIT_LOGIN_IDENTIFIER: '1000/1d' }).limitLoginIdentifier, {
      points: 1000,
      durationMs: 86_400_000,
    });
    assert.deepEqual(parseConfig({ LATCHKEY_LIMIT_REFRESH_PER_ADDRESS: '600/10m' }).limitRefreshPerAddress, {
      points: 600,
      durationMs: 600_000,
    });
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
      [{ LATCHKEY_TRUST_PROXY: '10.0.0.0/33' }, 'LATCHKEY_TRUST_PROXY'],
      [{ LATCHKEY_TRUST_PROXY: '127.0.0.1,proxy.internal' }, 'LATCHKEY_TRUST_PROXY'],
      [{ LATCHKEY_REVOCATION_FEED: 'open' }, 'LATCHKEY_REVOCATION_FEED'],
      [{ LATCHKEY_REVOCATION_FEED_MAX_CONNECTIONS: '0' }, 'LATCHKEY_REVOCATION_FEED_MAX_CONNECTIONS'],
      [{ LATCHKEY_REQUEST_TIMEOUT: 'soon' }, 'LATCHKEY_REQUEST_TIMEOUT'],
      [{ LATCHKEY_CONNECTION_TIMEOUT: '0' }, 'LATCHKEY_CONNECTION_TIMEOUT'],
      [{ LATCHKEY_KEY_PUBLISH_DELAY: '5 minutes' }, 'LATCHKEY_KEY_PUBLISH_DELAY'],
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

  test('LATCHKEY_TRUST_PROXY takes false, a hop count (true = 1) or proxy addresses/CIDRs', () => {
    const trust = (value: string) => parseConfig({ LATCHKEY_TRUST_PROXY: value }).trustProxy;
    assert.equal(parseConfig({}).trustProxy, false);
    assert.equal(trust('false'), false);
    assert.equal(trust('0'), false);
    assert.equal(trust('true'), 1);
    assert.equal(trust('2'), 2);
    assert.deepEqual(trust('127.0.0.1, 10.0.0.0/8,::1,fd00::/8'), ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']);
  });

  test('timeouts, the feed and the key publish delay have documented defaults', () => {
    const config = parseConfig({});
    assert.equal(config.requestTimeoutMs, 30_000);
    assert.equal(config.connectionTimeoutMs, 120_000);
    assert.equal(config.revocationFeed, 'key');
    assert.equal(config.revocationFeedMaxConnections, 1000);
    assert.equal(config.keyPublishDelayMs, 5 * 60_000);
    assert.equal(parseConfig({ LATCHKEY_KEY_PUBLISH_DELAY: '0' }).keyPublishDelayMs, 0);
  });

  test('an http:// issuer is allowed for a loopback OpenID provider only', () => {
    for (const issuer of [
      'http://127.0.0.1:9000',
      'http://localhost:9000/realms/dev',
      'http://[::1]:9000',
      'https://accounts.google.com',
    ]) {
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
    for (const value of [
      'auth.example.com',
      'ftp://example.com',
      'https://example.com/?a=1',
      'https://u:p@example.com',
      'https://example.com/#x',
    ]) {
      refuses({ LATCHKEY_PUBLIC_URL: value }, 'LATCHKEY_PUBLIC_URL');
    }
  });
});

/** The message of the ConfigError that `env` is refused with. */
function refusal(env: Record<string, string>): string {
  try {
    parseConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail(`${JSON.stringify(env)} was accepted`);
}

describe('messages a newcomer meets (issue 15)', () => {
  test('a well-formed duration below the minimum is refused with the minimum, not the format', () => {
    assert.equal(refusal({ LATCHKEY_ACCESS_TTL: '500ms' }), 'LATCHKEY_ACCESS_TTL: must be at least 1s (got "500ms")');
    assert.equal(refusal({ LATCHKEY_ACCESS_TTL: '0' }), 'LATCHKEY_ACCESS_TTL: must be at least 1s (got "0")');
    assert.equal(refusal({ LATCHKEY_SESSION_MAX_AGE: '10ms' }), 'LATCHKEY_SESSION_MAX_AGE: must be at least 1s, or 0 (got "10ms")');
    assert.equal(
      refusal({ LATCHKEY_ACCESS_TTL: 'soon' }),
      'LATCHKEY_ACCESS_TTL: must be a duration such as 90s, 15m, 1h or 7d (got "soon")',
    );
    assert.equal(
      refusal({ LATCHKEY_LIMIT_LOGIN_PAIR: '5/500ms' }),
      'LATCHKEY_LIMIT_LOGIN_PAIR: the window must be at least 1s (got "5/500ms")',
    );
    // The smallest accepted values are accepted.
    assert.equal(parseConfig({ LATCHKEY_ACCESS_TTL: '1000ms' }).accessTtlMs, 1000);
    assert.equal(parseConfig({ LATCHKEY_REFRESH_REUSE_GRACE: '1ms' }).refreshReuseGraceMs, 1);
  });

  test('every boolean variable takes the same spellings, in any case', () => {
    const spellings: [string, boolean][] = [
      ['true', true],
      ['yes', true],
      ['on', true],
      ['1', true],
      ['TRUE', true],
      ['On', true],
      ['false', false],
      ['no', false],
      ['off', false],
      ['0', false],
      ['NO', false],
      ['Off', false],
    ];
    for (const [value, expected] of spellings) {
      assert.equal(parseConfig({ LATCHKEY_LIMITS: value }).limitsEnabled, expected, `LATCHKEY_LIMITS=${value}`);
      assert.equal(
        parseConfig({ LATCHKEY_GOOGLE_CLIENT_ID: 'id', LATCHKEY_GOOGLE_AUTO_CREATE: value }).google?.autoCreate,
        expected,
        value,
      );
    }
    for (const variable of ['LATCHKEY_LIMITS', 'LATCHKEY_GOOGLE_AUTO_CREATE']) {
      assert.equal(
        refusal({ LATCHKEY_GOOGLE_CLIENT_ID: 'id', [variable]: 'maybe' }),
        `${variable}: must be one of true, yes, on, 1 or false, no, off, 0 (got "maybe")`,
      );
    }
  });

  test('a refused URL is echoed without its password', () => {
    const cases: [Record<string, string>, string][] = [
      [{ DATABASE_URL: 'mysql://app:hunter2-secret@db.example.com/latchkey' }, 'mysql://app:***@db.example.com/latchkey'],
      // Malformed, with an unencoded @ and / in the password: still masked up to the last @.
      [{ DATABASE_URL: 'mariadb://app:hun/ter@2-secret@db.example.com/x' }, 'mariadb://app:***@db.example.com/x'],
      [{ LATCHKEY_PUBLIC_URL: 'https://app:hunter2-secret@auth.example.com' }, 'https://app:***@auth.example.com'],
      [
        { LATCHKEY_GOOGLE_CLIENT_ID: 'id', LATCHKEY_GOOGLE_ISSUER: 'https://u:hunter2-secret@idp example.com' },
        'https://u:***@idp example.com',
      ],
    ];
    for (const [env, shown] of cases) {
      const message = refusal(env);
      assert.ok(message.includes(shown), message);
      assert.doesNotMatch(message, /hunter2|secret@/, message);
    }
  });
});

describe('passwords in URLs', () => {
  test('are masked wherever a URL is shown, malformed ones included', () => {
    const cases: [string, string][] = [
      ['postgres://app:s3cret@db:5432/latchkey', 'postgres://app:***@db:5432/latchkey'],
      ['redis://:s3cret@redis:6379', 'redis://:***@redis:6379'],
      ['postgres://app@db/latchkey', 'postgres://app@db/latchkey'],
      ['postgres://db/latchkey?user=app&password=s3cret&sslmode=require', 'postgres://db/latchkey?user=app&password=***&sslmode=require'],
      ['postgres://app:s3c@r/t@db/latchkey', 'postgres://app:***@db/latchkey'],
      ['sqlite:./data/latchkey.db', 'sqlite:./data/latchkey.db'],
    ];
    for (const [url, shown] of cases) assert.equal(urlWithoutPassword(url), shown, url);
    assert.equal(
      redactPasswords('connect to postgres://app:s3cret@db/x failed; redis://:other@r:6379 too'),
      'connect to postgres://app:***@db/x failed; redis://:***@r:6379 too',
    );
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
