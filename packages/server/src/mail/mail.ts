/**
 * Mail as one piece of the core (SPEC §10): the outbox, its limits, the templates, the metrics, and the
 * background sender (started by `serve` with its logger; the CLI's one-shot commands never start it).
 *
 * @example
 *   const mail = new Mail(db, config, metrics.registry, loadTemplates(config.mailTemplates));
 *   mail.startSender(app.log);   // SMTP, or `mail_logged` lines plus one start-up warning
 *   await mail.stop();
 */
import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { Config } from '../config.ts';
import { type LimiterFactory, memoryLimiters } from '../limits/abuse.ts';
import type { Database } from '../store/schema.ts';
import { MailLimits } from './limits.ts';
import { type MailMetrics, mailMetrics } from './metrics.ts';
import { MailOutbox } from './outbox.ts';
import { type MailLogger, MailSender, logTransport, smtpTransport } from './sender.ts';
import { type MailTemplates, loadTemplates } from './templates.ts';

/** Sent and discarded rows (bodies already erased) are kept this long for inspection, then deleted. */
const FINISHED_RETENTION_MS = 7 * 86_400_000;

export class Mail {
  readonly outbox: MailOutbox;
  readonly limits: MailLimits;
  readonly templates: MailTemplates;
  readonly metrics: MailMetrics;
  #sender: MailSender | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly config: Config,
    registry: Registry,
    templates: MailTemplates = loadTemplates(config.mailTemplates),
    limiters: LimiterFactory = memoryLimiters,
  ) {
    this.outbox = new MailOutbox(db, config.keyEncryptionSecret);
    this.limits = new MailLimits(config, limiters);
    this.templates = templates;
    this.metrics = mailMetrics(registry, () => this.outbox.countWaiting());
  }

  /** A message was written: deliver it now rather than at the next poll. */
  wake(): void {
    this.#sender?.wake();
  }

  startSender(log: MailLogger, options: { pollMs?: number } = {}): MailSender {
    if (this.#sender) return this.#sender;
    if (this.config.smtpUrl === undefined) {
      log.warn({ event: 'mail_not_delivered' }, 'LATCHKEY_SMTP_URL is not set: mail is written to the log (mail_logged), not delivered');
    }
    const transport = this.config.smtpUrl === undefined ? logTransport(log) : smtpTransport(this.config.smtpUrl);
    this.#sender = new MailSender(this.outbox, transport, this.metrics, log, { from: this.config.mailFrom, ...options });
    this.#sender.start();
    return this.#sender;
  }

  /** Deletes finished outbox rows and link tokens past their expiry. */
  async prune(now = Date.now()): Promise<void> {
    await this.outbox.prune(FINISHED_RETENTION_MS, now);
    await this.db.deleteFrom('link_tokens').where('expires_at', '<', now).execute();
  }

  async stop(): Promise<void> {
    await this.#sender?.stop();
    this.#sender = undefined;
  }
}
