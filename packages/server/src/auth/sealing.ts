/**
 * Sealing of secrets at rest (AES-256-GCM under a key derived from `LATCHKEY_KEY_ENCRYPTION_SECRET`): signing
 * keys, server secrets and TOTP secrets all go through here, so there is one format and one place to audit.
 * Without an encryption secret values are stored as given; a sealed value then refuses to open.
 *
 * @example
 *   const stored = sealSecret(totpSecret, config.keyEncryptionSecret);
 *   openSecret(stored, config.keyEncryptionSecret, 'TOTP secrets') === totpSecret;
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';

const ENCRYPTED_PREFIX = 'enc:v1:';

const derived = new Map<string, Buffer>();

function encryptionKey(secret: string): Buffer {
  let key = derived.get(secret);
  if (key === undefined) {
    // A fixed salt is fine here: the input is a high-entropy operator secret, not a user password.
    key = scryptSync(secret, 'latchkey-key-encryption', 32);
    // scrypt is slow on purpose; TOTP secrets are opened on every second-factor check.
    derived.set(secret, key);
  }
  return key;
}

/** Encrypts secret material for storage when an encryption secret is configured. */
export function sealSecret(plain: string, encryptionSecret: string | undefined): string {
  if (encryptionSecret === undefined) return plain;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey(encryptionSecret), iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ENCRYPTED_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

export class KeyDecryptionError extends Error {
  override readonly name = 'KeyDecryptionError';
}

/** Whether a stored value is sealed (tests and the CLI show it). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(ENCRYPTED_PREFIX);
}

/** Opens a value stored by {@link sealSecret}; `what` names the material in the error (e.g. `signing keys`). */
export function openSecret(stored: string, encryptionSecret: string | undefined, what = 'signing keys'): string {
  if (!stored.startsWith(ENCRYPTED_PREFIX)) return stored;
  if (encryptionSecret === undefined) {
    throw new KeyDecryptionError(`${what} are encrypted: set LATCHKEY_KEY_ENCRYPTION_SECRET`);
  }
  const raw = Buffer.from(stored.slice(ENCRYPTED_PREFIX.length), 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', encryptionKey(encryptionSecret), raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  try {
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    throw new KeyDecryptionError(`LATCHKEY_KEY_ENCRYPTION_SECRET does not decrypt the stored ${what}`);
  }
}
