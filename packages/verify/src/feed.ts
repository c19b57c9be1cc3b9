/**
 * A subscriber to Latchkey's revocation feed (`GET /api/auth/revocations`, Server-Sent Events). It keeps
 * the revoked session ids in memory until their `exp`, reconnects with exponential backoff, and says
 * whether it is in sync: connected and past the `ready` event that follows the initial list.
 *
 * @example
 *   const feed = new RevocationFeed({ url: 'https://auth.example.com/api/auth/revocations', key });
 *   feed.start();
 *   if (feed.isRevoked(claims.sid)) throw …;
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type EventSourceMessage, createParser } from 'eventsource-parser';

export type FeedStatus = 'connecting' | 'connected' | 'down' | 'closed';

export interface RevocationFeedOptions {
  readonly url: string;
  /** Sent as `Authorization: Bearer <key>` (LATCHKEY_REVOCATION_FEED_KEY). */
  readonly key?: string | undefined;
  /** First reconnect delay; doubled after each failure up to `maxBackoffMs`. */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** No byte (not even a heartbeat) for this long means the connection is dead. The server beats every 15 s. */
  readonly idleTimeoutMs?: number;
}

export class RevocationFeed {
  readonly #options: Required<Omit<RevocationFeedOptions, 'key'>> & { key: string | undefined };
  /** Revoked session id → Unix seconds after which none of its tokens can be valid. */
  readonly #revoked = new Map<string, number>();
  #status: FeedStatus = 'connecting';
  #abort: AbortController | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #settled: Promise<void>;
  #settle: () => void = () => {};

  constructor(options: RevocationFeedOptions) {
    this.#options = {
      minBackoffMs: 250,
      maxBackoffMs: 10_000,
      idleTimeoutMs: 45_000,
      ...options,
      key: options.key,
    };
    this.#settled = new Promise((resolve) => (this.#settle = resolve));
  }

  get status(): FeedStatus {
    return this.#status;
  }

  /** In sync with the server: every revocation it knows of has been received. */
  get connected(): boolean {
    return this.#status === 'connected';
  }

  /** Resolves once the first connection attempt has either synced or failed. */
  firstAttempt(): Promise<void> {
    return this.#settled;
  }

  isRevoked(sid: string, nowSeconds = Date.now() / 1000): boolean {
    const exp = this.#revoked.get(sid);
    if (exp === undefined) return false;
    if (exp <= nowSeconds) {
      this.#revoked.delete(sid);
      return false;
    }
    return true;
  }

  start(): void {
    if (this.#status === 'closed' || this.#abort) return;
    void this.#connect();
  }

  close(): void {
    this.#status = 'closed';
    clearTimeout(this.#retryTimer);
    this.#abort?.abort();
    this.#settle();
  }

  async #connect(): Promise<void> {
    const abort = new AbortController();
    this.#abort = abort;
    try {
      await this.#stream(abort.signal);
    } catch {
      // Any failure (refused, wrong key, dropped, idle) is the same to a verifier: out of sync until reconnected.
    } finally {
      if (this.#abort === abort) this.#abort = undefined;
    }
    if (this.#status === 'closed') return;
    this.#status = 'down';
    this.#settle();
    this.#scheduleReconnect();
  }

  /** One connection, until it fails or ends. node:http rather than fetch: closing it leaves no spare socket behind. */
  #stream(signal: AbortSignal): Promise<never> {
    const url = new URL(this.#options.url);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    // Never resolves: a feed connection only ever ends in failure (or close()).
    return new Promise<never>((_resolve, reject) => {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (this.#options.key !== undefined) headers.authorization = `Bearer ${this.#options.key}`;
      const req = request(url, { headers, signal, timeout: this.#options.idleTimeoutMs }, (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          reject(new Error(`revocation feed answered ${response.statusCode}`));
          return;
        }
        // eventsource-parser splits the stream into events (WHATWG HTML §9.2.6); comments (heartbeats) and ids are ignored.
        const parser = createParser({ onEvent: (event) => this.#handle(event) });
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => parser.feed(chunk));
        response.on('end', () => reject(new Error('revocation feed ended')));
        response.on('error', reject);
        response.on('close', () => reject(new Error('revocation feed closed')));
      });
      // No byte (not even a heartbeat) within the idle timeout: the connection is dead.
      req.on('timeout', () => req.destroy(new Error('revocation feed idle')));
      req.on('error', reject);
      req.end();
    });
  }

  #handle(event: EventSourceMessage): void {
    if (event.event === 'revoked') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(event.data);
      } catch {
        return;
      }
      const { sid, exp } = (parsed ?? {}) as { sid?: unknown; exp?: unknown };
      if (typeof sid === 'string' && typeof exp === 'number' && exp > Date.now() / 1000) this.#revoked.set(sid, exp);
    } else if (event.event === 'ready') {
      this.#status = 'connected';
      this.#failures = 0;
      this.#settle();
      this.#prune();
    }
  }

  #prune(): void {
    const now = Date.now() / 1000;
    for (const [sid, exp] of this.#revoked) if (exp <= now) this.#revoked.delete(sid);
  }

  #scheduleReconnect(): void {
    const { minBackoffMs, maxBackoffMs } = this.#options;
    const base = Math.min(maxBackoffMs, minBackoffMs * 2 ** this.#failures);
    this.#failures++;
    // Jitter spreads the reconnects of many verifiers after a Latchkey restart.
    const delay = base / 2 + Math.random() * (base / 2);
    this.#retryTimer = setTimeout(() => {
      if (this.#status !== 'closed') void this.#connect();
    }, delay);
    this.#retryTimer.unref?.();
  }
}
