/**
 * Test support: RFC 6238 codes computed independently of the `otpauth` library the server uses (HOTP of
 * RFC 4226 over node:crypto), so a test can fail when the server's TOTP is wrong. Checked against the
 * RFC 6238 appendix B vectors in mfa-totp.test.ts.
 */
import { createHmac } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Decode(text: string): Buffer {
  const clean = text.replace(/=+$/, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The TOTP code of `key` at `timeMs` (SHA-1, 30 s steps), `digits` long. */
export function totpAt(key: Buffer, timeMs: number, digits = 6): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(timeMs / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(binary).padStart(digits, '0');
}

/** The 6-digit code of a base32 secret, `stepOffset` steps from now. */
export function totpCode(secretBase32: string, stepOffset = 0, now = Date.now()): string {
  return totpAt(base32Decode(secretBase32), now + stepOffset * 30_000);
}
