/**
 * Password hashing and the rules for new passwords (SPEC §2). Hashing runs on a piscina worker pool
 * at a lower CPU priority, behind a bounded, per-address fair queue (hash-pool.ts), through @node-rs/argon2 and @node-rs/bcrypt, so it never
 * blocks or slows the event loop.
 *
 * @example
 *   const hasher = new PasswordHasher({ algorithm: 'argon2id', bcryptCost: 12 });
 *   const stored = await hasher.hash('correct horse battery');
 *   await hasher.verify(stored, 'correct horse battery'); // true
 */
import { randomBytes } from 'node:crypto';
import * as argon2 from '@node-rs/argon2';
import type { Algorithm as Argon2Algorithm } from '@node-rs/argon2';
import * as bcrypt from '@node-rs/bcrypt';
import { createRequire } from 'node:module';
import { type HashJob, hashPool, type QueueOptions } from './hash-pool.ts';
import { RateLimited, RefusedValue } from '../errors.ts';
import type { PasswordHashAlg } from '../config.ts';

/** The cost of an argon2id hash: memory in KiB and passes (parallelism is always 1). */
export interface Argon2Cost {
  readonly memoryCost: number;
  readonly timeCost: number;
}

/** OWASP Password Storage Cheat Sheet, first choice: argon2id, m=19 MiB, t=2, p=1 (SPEC §1). */
export const OWASP_ARGON2ID: Argon2Cost = { memoryCost: 19456, timeCost: 2 };
const ARGON2ID = 2 as Argon2Algorithm;

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;
/** bcrypt reads only the first 72 bytes; refusing longer passwords beats silently ignoring the rest. */
export const BCRYPT_MAX_BYTES = 72;

let commonPasswords: ReadonlySet<string> | undefined;

/**
 * The 10,000 most common passwords, read from zxcvbn's dictionaries the first time a new password is checked.
 * Not at start: the package decompresses all of its dictionaries when loaded (≈ 260 ms and several MiB that an
 * idle server would hold for nothing — issue 16), and once the set is built the package is dropped again.
 */
function commonPasswordSet(): ReadonlySet<string> {
  if (commonPasswords === undefined) {
    const require = createRequire(import.meta.url);
    const id = require.resolve('@zxcvbn-ts/language-common');
    const { dictionary } = require(id) as typeof import('@zxcvbn-ts/language-common');
    // zxcvbn's list is ordered by frequency; the 10,000 most common are refused as typed (no case folding).
    commonPasswords = new Set((dictionary['passwords-common'] as readonly string[]).slice(0, 10_000));
    delete require.cache[id];
  }
  return commonPasswords;
}

export function isCommonPassword(password: string): boolean {
  return commonPasswordSet().has(password);
}

/** Throws {@link RefusedValue} when a new password breaks SPEC §2's rules. Checked exactly as typed. */
export function checkNewPassword(password: string, algorithm: PasswordHashAlg, field = 'password'): void {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    throw new RefusedValue(field, `must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters long`);
  }
  if (algorithm === 'bcrypt' && Buffer.byteLength(password, 'utf8') > BCRYPT_MAX_BYTES) {
    throw new RefusedValue(field, `must be at most ${BCRYPT_MAX_BYTES} bytes in UTF-8 with bcrypt`);
  }
  if (isCommonPassword(password)) {
    throw new RefusedValue(field, 'is one of the 10,000 most common passwords');
  }
}

function isBcryptHash(stored: string): boolean {
  return /^\$2[abyx]\$\d\d\$/.test(stored);
}

function isArgon2Hash(stored: string): boolean {
  return stored.startsWith('$argon2');
}

export interface HasherOptions {
  readonly algorithm: PasswordHashAlg;
  readonly bcryptCost: number;
  /** argon2id's cost for new hashes; {@link OWASP_ARGON2ID} unless given (see CoreOptions.argon2Cost). */
  readonly argon2Cost?: Argon2Cost;
}

export class PasswordHasher {
  readonly #options: HasherOptions;
  readonly #argon2: Argon2Cost & { readonly parallelism: 1 };
  #dummy: Promise<string> | undefined;

  constructor(options: HasherOptions) {
    this.#options = options;
    const { memoryCost, timeCost } = options.argon2Cost ?? OWASP_ARGON2ID;
    this.#argon2 = { memoryCost, timeCost, parallelism: 1 };
  }

  hash(password: string, queue: QueueOptions = {}): Promise<string> {
    if (this.#options.algorithm === 'bcrypt') return hashPool().run({ op: 'bcrypt.hash', password, cost: this.#options.bcryptCost }, queue);
    return hashPool().run({ op: 'argon2.hash', password, options: { algorithm: ARGON2ID, ...this.#argon2 } }, queue);
  }

  /**
   * Verifies against argon2 or bcrypt (`$2a$`/`$2b$`/`$2y$`) hashes; false for anything else. Throws
   * RateLimited when the hash queue is full (hash-pool.ts); `queue.queueKey` is the client address.
   */
  async verify(stored: string, password: string, queue: QueueOptions = {}): Promise<boolean> {
    let job: HashJob;
    if (isArgon2Hash(stored)) job = { op: 'argon2.verify', stored, password };
    else if (isBcryptHash(stored)) job = { op: 'bcrypt.verify', stored, password };
    else return false;
    try {
      return await hashPool().run<boolean>(job, queue);
    } catch (error) {
      if (error instanceof RateLimited) throw error;
      // A corrupt stored hash is a failed login, not a server error.
      return false;
    }
  }

  /**
   * Spends the same time as a real verification, for unknown users and password-less accounts, so that
   * the response time does not reveal whether an account exists.
   */
  async verifyDummy(password: string, queue: QueueOptions = {}): Promise<false> {
    this.#dummy ??= this.hash(randomBytes(18).toString('base64url')).catch((error: unknown) => {
      this.#dummy = undefined; // a refused (queue full) first hash must not stay cached
      throw error;
    });
    await this.verify(await this.#dummy, password, queue);
    return false;
  }

  /** True when the stored hash uses another algorithm or older parameters than the configured ones. */
  needsRehash(stored: string): boolean {
    try {
      if (this.#options.algorithm === 'bcrypt') {
        return !isBcryptHash(stored) || bcrypt.parseOptions(stored).cost !== this.#options.bcryptCost;
      }
      if (!stored.startsWith('$argon2id$')) return true;
      const params = argon2.parseOptions(stored);
      return (
        params.memoryCost !== this.#argon2.memoryCost ||
        params.timeCost !== this.#argon2.timeCost ||
        params.parallelism !== this.#argon2.parallelism
      );
    } catch {
      return true;
    }
  }
}
