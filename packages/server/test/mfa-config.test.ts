import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config.ts';

function refused(env: Record<string, string>, variable: string): void {
  assert.throws(
    () => parseConfig(env),
    (error: unknown) => error instanceof ConfigError && error.variable === variable && error.message.includes(variable),
  );
}

describe('second-factor configuration', () => {
  test('LATCHKEY_MFA is optional by default and takes admins or all', () => {
    assert.equal(parseConfig({}).mfaPolicy, 'optional');
    assert.equal(parseConfig({ LATCHKEY_MFA: 'admins' }).mfaPolicy, 'admins');
    assert.equal(parseConfig({ LATCHKEY_MFA: 'all' }).mfaPolicy, 'all');
    refused({ LATCHKEY_MFA: 'always' }, 'LATCHKEY_MFA');
  });

  test('the passkey RP ID is the public host (or a parent domain given), the origins the public one plus the listed ones', () => {
    const derived = parseConfig({ LATCHKEY_PUBLIC_URL: 'https://auth.example.com/base' });
    assert.equal(derived.webauthnRpId, 'auth.example.com');
    assert.deepEqual(derived.webauthnOrigins, ['https://auth.example.com']);
    const parent = parseConfig({
      LATCHKEY_PUBLIC_URL: 'https://auth.example.com',
      LATCHKEY_WEBAUTHN_RP_ID: 'Example.com',
      LATCHKEY_WEBAUTHN_ORIGINS: 'https://app.example.com,https://auth.example.com',
    });
    assert.equal(parent.webauthnRpId, 'example.com');
    assert.deepEqual(parent.webauthnOrigins, ['https://auth.example.com', 'https://app.example.com']);
    refused({ LATCHKEY_PUBLIC_URL: 'https://auth.example.com', LATCHKEY_WEBAUTHN_RP_ID: 'other.example' }, 'LATCHKEY_WEBAUTHN_RP_ID');
    refused({ LATCHKEY_PUBLIC_URL: 'https://auth.example.com', LATCHKEY_WEBAUTHN_RP_ID: 'ample.com' }, 'LATCHKEY_WEBAUTHN_RP_ID');
    refused({ LATCHKEY_WEBAUTHN_ORIGINS: 'not a url' }, 'LATCHKEY_WEBAUTHN_ORIGINS');
  });
});
