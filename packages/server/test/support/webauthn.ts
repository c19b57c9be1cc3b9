/**
 * Test support: a software WebAuthn authenticator (ES256 key from node:crypto) that builds what a browser
 * would send — `none` attestations and assertions — so server-level tests can also build the wrong ones
 * (another origin or RP ID, a reused challenge, a counter going backwards, a tampered signature).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}

export interface CeremonyOverrides {
  readonly origin?: string;
  readonly rpId?: string;
  readonly counter?: number;
  /** Flip one bit of the signature. */
  readonly tamper?: boolean;
  /** Answer this challenge instead of the one in the options. */
  readonly challenge?: string;
}

export class SoftwareAuthenticator {
  readonly #privateKey: KeyObject;
  readonly #publicJwk: { x: string; y: string };
  readonly credentialId = randomBytes(32);
  counter = 0;
  userHandle: string | undefined;

  constructor(
    readonly rpId: string,
    readonly origin: string,
  ) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.#privateKey = pair.privateKey;
    this.#publicJwk = pair.publicKey.export({ format: 'jwk' }) as { x: string; y: string };
  }

  get id(): string {
    return b64url(this.credentialId);
  }

  #clientData(type: string, challenge: string, origin: string): string {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false })).toString('base64url');
  }

  #authData(rpId: string, flags: number, counter: number, attested?: Uint8Array): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, ...(attested ? [attested] : [])]);
  }

  /** A `none` attestation for creation options, as `@simplewebauthn/browser`'s startRegistration returns it. */
  register(options: { challenge: string; user?: { id?: string } }, overrides: CeremonyOverrides = {}) {
    this.userHandle = options.user?.id;
    const cose = new Map<number, number | Uint8Array>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, Buffer.from(this.#publicJwk.x, 'base64url')],
      [-3, Buffer.from(this.#publicJwk.y, 'base64url')],
    ]);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    const attested = Buffer.concat([Buffer.alloc(16), idLength, this.credentialId, Buffer.from(isoCBOR.encode(cose))]);
    // UP | UV | AT
    const authData = this.#authData(overrides.rpId ?? this.rpId, 0x01 | 0x04 | 0x40, this.counter, attested);
    const attestationObject = isoCBOR.encode(
      new Map<string, unknown>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]) as never,
    );
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      response: {
        clientDataJSON: this.#clientData('webauthn.create', overrides.challenge ?? options.challenge, overrides.origin ?? this.origin),
        attestationObject: b64url(attestationObject),
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /** An assertion for request options; the counter moves forward by one unless overridden. */
  assert(options: { challenge: string }, overrides: CeremonyOverrides = {}) {
    this.counter = overrides.counter ?? this.counter + 1;
    const authData = this.#authData(overrides.rpId ?? this.rpId, 0x01 | 0x04, this.counter);
    const clientDataJSON = this.#clientData('webauthn.get', overrides.challenge ?? options.challenge, overrides.origin ?? this.origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(Buffer.from(clientDataJSON, 'base64url'))]), this.#privateKey);
    if (overrides.tamper) signature[signature.length - 1]! ^= 0x01;
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      response: {
        clientDataJSON,
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        ...(this.userHandle === undefined ? {} : { userHandle: this.userHandle }),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}
