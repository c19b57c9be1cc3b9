/**
 * Test support: a real SMTP server (`smtp-server`, by the nodemailer authors) on an ephemeral port, whose
 * messages are parsed with `mailparser`. It can go down (connections refused) and come back on the same port.
 *
 * @example
 *   const smtp = await TestSmtp.start();
 *   // LATCHKEY_SMTP_URL: smtp.url
 *   const mail = await smtp.next('ada@example.com');
 *   await smtp.down(); …; await smtp.up();
 *   await smtp.stop();
 */
import { type AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { scaled } from './wait.ts';

export interface ReceivedMail {
  /** Envelope recipients (RCPT TO), lower-cased. */
  readonly to: readonly string[];
  readonly from: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  readonly parsed: ParsedMail;
}

/** How long a test waits for a message before failing (a failure, not a pacing device), on a quiet machine. */
const WAIT_MS = 30_000;

export class TestSmtp {
  readonly received: ReceivedMail[] = [];
  /** How long the server takes to accept each message after receiving it: a slow SMTP server. */
  acceptDelayMs = 0;
  readonly #taken = new Map<string, number>();
  #waiters: (() => void)[] = [];
  #server: SMTPServer | undefined;

  private constructor(public port: number) {}

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TestSmtp> {
    const smtp = new TestSmtp(0);
    await smtp.up();
    return smtp;
  }

  /** Listens (again) on the same port. */
  async up(): Promise<void> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, session, done) => {
        simpleParser(stream)
          .then((parsed) => {
            this.received.push({
              to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
              from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
              parsed,
            });
            const waiters = this.#waiters;
            this.#waiters = [];
            for (const wake of waiters) wake();
            if (this.acceptDelayMs > 0) setTimeout(done, this.acceptDelayMs);
            else done();
          })
          .catch((error: Error) => done(error));
      },
    });
    server.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stops listening: Latchkey's connections are refused until {@link up}. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Every message so far to `address`. */
  messagesTo(address: string): ReceivedMail[] {
    return this.received.filter((m) => m.to.includes(address.toLowerCase()));
  }

  /** The next message to `address` not returned before; fails after a generous wait. */
  async next(address: string): Promise<ReceivedMail> {
    const key = address.toLowerCase();
    const waitMs = scaled(WAIT_MS);
    const deadline = Date.now() + waitMs;
    for (;;) {
      const seen = this.#taken.get(key) ?? 0;
      const mail = this.messagesTo(key)[seen];
      if (mail) {
        this.#taken.set(key, seen + 1);
        return mail;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message to ${address} within ${waitMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    await this.down();
  }
}

/** The link token of a message (the `token` query parameter of its first link). */
export function tokenOf(mail: ReceivedMail): string {
  const match = /[?&]token=([A-Za-z0-9_-]+)/.exec(mail.text);
  if (!match?.[1]) throw new Error(`no token in message "${mail.subject}"`);
  return match[1];
}
