/**
 * Limits on requests that may send mail (SPEC §10), on the same limiter factory as login (memory, or Redis
 * when configured): per client address a 429 with Retry-After; per recipient silently no more mail, so the
 * answer cannot tell whether an address is known or how often it was asked for.
 *
 * @example
 *   await limits.beforeRequest(ip);               // throws RateLimited
 *   const deliver = await limits.allowRecipient(email); // false: write a decoy instead
 */
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config.ts';
import { RateLimited } from '../errors.ts';
import { hashIdentifier, type LimiterFactory, memoryLimiters } from '../limits/abuse.ts';

export class MailLimits {
  readonly #perAddress: RateLimiterAbstract;
  readonly #perRecipient: RateLimiterAbstract;

  constructor(
    private readonly config: Config,
    factory: LimiterFactory = memoryLimiters,
  ) {
    this.#perAddress = factory('mail_per_address', config.limitMailPerAddress);
    this.#perRecipient = factory('mail_per_recipient', config.limitMailPerRecipient);
  }

  /** Counts one mail-sending request from `ip`; throws RateLimited when the address is over its limit. */
  async beforeRequest(ip: string): Promise<void> {
    if (!this.config.limitsEnabled) return;
    try {
      await this.#perAddress.consume(ip);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes)
        throw new RateLimited(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)), 'mail_per_address');
      throw rejection;
    }
  }

  /**
   * Counts one message for `recipient` (an address or, for an unknown username, the name asked for) and says
   * whether it may be delivered. Counted alike for known and unknown recipients; only a hash is stored.
   */
  async allowRecipient(recipient: string): Promise<boolean> {
    if (!this.config.limitsEnabled) return true;
    try {
      await this.#perRecipient.consume(hashIdentifier(recipient));
      return true;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return false;
      throw rejection;
    }
  }
}
