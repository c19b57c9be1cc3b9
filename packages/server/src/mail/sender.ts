/**
 * The background mail sender (SPEC §10): claims due outbox rows, delivers them through SMTP (nodemailer) or,
 * with no LATCHKEY_SMTP_URL, writes them to the log (`mail_logged`), and retries failures with exponential
 * backoff up to 24 h. Rows addressed to nobody (decoys) are discarded unsent.
 *
 * Delivery is at most once per claim: a row is marked sent right after the SMTP server accepted it. Only a crash
 * in the instant between the server's "250 OK" and that write could repeat a message (SMTP has no idempotency
 * key); a crash anywhere else delays it and never loses it.
 *
 * @example
 *   const sender = new MailSender(outbox, transport, metrics, log);
 *   sender.start(); sender.wake(); await sender.stop();
 */
import { randomUUID } from 'node:crypto';
import type { Transporter } from 'nodemailer';
import type { MailMetrics } from './metrics.ts';
import type { MailOutbox, OutboxRow } from './outbox.ts';
import type { MailMessage } from './templates.ts';

export interface MailEnvelope extends MailMessage {
  readonly from: string;
  readonly to: string;
}

/** Where messages go: an SMTP server, or the log. */
export interface MailTransport {
  readonly kind: 'smtp' | 'log';
  send(mail: MailEnvelope): Promise<void>;
  close(): void;
}

export interface MailLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** SMTP through nodemailer: STARTTLS when the server offers it (`smtp://`), TLS from the start with `smtps://`. */
export function smtpTransport(url: string): MailTransport {
  const parsed = new URL(url);
  const secure = parsed.protocol === 'smtps:';
  const options = {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port === '' ? (secure ? 465 : 587) : Number(parsed.port),
    secure,
    ...(parsed.username === '' ? {} : { auth: { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } }),
    // A server that is down or hung must fail the attempt (and be retried), not hold the sender forever.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  };
  // nodemailer is loaded with the first message: a server that sends no mail does not hold it in memory.
  let transporter: Promise<Transporter> | undefined;
  return {
    kind: 'smtp',
    async send(mail) {
      transporter ??= import('nodemailer').then(({ default: nodemailer }) => nodemailer.createTransport(options));
      const smtp = await transporter;
      await smtp.sendMail({ from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
    },
    close() {
      void transporter?.then((smtp) => smtp.close());
    },
  };
}

/** No SMTP configured: the whole message goes to the log, so a local setup still works end to end. */
export function logTransport(log: MailLogger): MailTransport {
  return {
    kind: 'log',
    async send(mail) {
      log.info(
        { event: 'mail_logged', from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html },
        'mail not delivered (LATCHKEY_SMTP_URL is not set)',
      );
    },
    close() {},
  };
}

const MAX_BACKOFF_MS = 24 * 3_600_000;
/** ~10 days of retries at the 24 h cap before a message is given up. */
const MAX_ATTEMPTS = 25;
const BATCH = 20;

/**
 * 1 s, 2 s, 4 s, … up to 24 h, with ±20 % jitter so instances that failed together do not retry together;
 * the jitter never takes a wait past 24 h (SPEC §10).
 */
export function backoffMs(attempts: number, random = Math.random()): number {
  const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.max(0, attempts - 1));
  return Math.min(MAX_BACKOFF_MS, Math.round(base * (0.8 + 0.4 * random)));
}

/** An SMTP 5xx answer refuses the message for good; anything else (no connection, 4xx, timeout) is retried. */
function permanent(error: unknown): boolean {
  const code = (error as { responseCode?: unknown }).responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}

/** What is kept of a failure: the SMTP answer code or the error code, never the message body or credentials. */
function describe(error: unknown): string {
  const e = error as { responseCode?: unknown; code?: unknown };
  if (typeof e.responseCode === 'number') return `smtp ${e.responseCode}`;
  if (typeof e.code === 'string') return e.code.slice(0, 64);
  return 'error';
}

export interface SenderOptions {
  readonly from: string;
  /** How often to look for due rows written by other instances or due for a retry. */
  readonly pollMs?: number;
  /** How long a claim lasts; longer than the slowest SMTP exchange (the timeouts above). */
  readonly leaseMs?: number;
}

export class MailSender {
  readonly #owner = randomUUID();
  /**
   * Rows the SMTP server accepted whose "sent" could not be written (the database failed right then): never
   * sent again by this instance, only marked sent once the database answers.
   */
  readonly #sentUnrecorded = new Set<number>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(
    private readonly outbox: MailOutbox,
    readonly transport: MailTransport,
    private readonly metrics: MailMetrics,
    private readonly log: MailLogger,
    private readonly options: SenderOptions,
  ) {}

  start(): void {
    this.#stopped = false;
    this.#timer = setInterval(() => this.wake(), this.options.pollMs ?? 1000).unref();
    this.wake();
  }

  /** Runs a pass now (after a message was written); passes never overlap. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#pass()
      .catch((error: unknown) =>
        this.log.warn({ event: 'mail_sender_error', err: { message: (error as Error).message } }, 'mail sender pass failed'),
      )
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.wake();
        }
      });
  }

  async #pass(): Promise<void> {
    for (;;) {
      const rows = await this.outbox.claimDue(this.#owner, this.options.leaseMs ?? 120_000, BATCH);
      for (const row of rows) await this.#deliver(row);
      if (rows.length < BATCH || this.#stopped) return;
    }
  }

  async #deliver(row: OutboxRow): Promise<void> {
    if (row.deliver !== 1 || row.recipient === null) {
      await this.outbox.finish(row, this.#owner, 'discarded');
      return;
    }
    if (this.#sentUnrecorded.has(row.id)) {
      await this.#recordSent(row);
      return;
    }
    // The batch was claimed at once; the rows sent before this one may have used up its lease. Sent only if it
    // is still ours, for a whole lease from now: then no other instance can claim it during the send.
    if (!(await this.outbox.renew(row, this.#owner, this.options.leaseMs ?? 120_000))) return;
    try {
      await this.transport.send({ ...this.outbox.open(row), from: this.options.from, to: row.recipient });
    } catch (error) {
      const reason = describe(error);
      if (permanent(error) || row.attempts + 1 >= MAX_ATTEMPTS) {
        await this.outbox.finish(row, this.#owner, 'failed', reason);
        this.metrics.failed.inc({ kind: row.kind, outcome: 'given_up' });
        this.log.warn({ event: 'mail_failed', mail_id: row.id, kind: row.kind, reason, attempts: row.attempts + 1 }, 'mail given up');
      } else {
        await this.outbox.retryLater(row, this.#owner, Date.now() + backoffMs(row.attempts + 1), reason);
        this.metrics.failed.inc({ kind: row.kind, outcome: 'retry' });
        this.log.warn(
          { event: 'mail_retry', mail_id: row.id, kind: row.kind, reason, attempts: row.attempts + 1 },
          'mail delivery failed; will retry',
        );
      }
      return;
    }
    this.#sentUnrecorded.add(row.id);
    await this.#recordSent(row);
  }

  async #recordSent(row: OutboxRow): Promise<void> {
    await this.outbox.finish(row, this.#owner, 'sent');
    this.#sentUnrecorded.delete(row.id);
    this.metrics.sent.inc({ kind: row.kind });
  }

  /** Stops polling and waits for the pass in flight (a claimed row is finished, not abandoned). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
    this.transport.close();
  }
}
