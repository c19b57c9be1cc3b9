/**
 * Which sessions are revoked, kept in memory so that `/verify` checks revocation without a database
 * round trip. Revocations made by this process show at once; those made by other processes (workers,
 * instances, the CLI) are read from the `revoked_sessions` table every second, or pushed sooner by a
 * {@link RevocationBus} (Redis pub/sub) when one is attached.
 *
 * @example
 *   if (revocations.has(claims.sid)) throw new InvalidAccessToken('session revoked');
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

export interface Revocation {
  readonly sessionId: string;
  /** When the last access token of the session expires; after that the entry can be forgotten. */
  readonly expiresAt: number;
}

/** A channel that tells other instances about revocations at once (see `scale/redis.ts`). */
export interface RevocationBus {
  publish(revocation: Revocation): Promise<void>;
  subscribe(listener: (revocation: Revocation) => void): Promise<void>;
  close(): Promise<void>;
}

/** Rows revoked up to this long before the last poll are read again, so a slow commit is never missed. */
const POLL_OVERLAP_MS = 10_000;

export class RevocationList {
  readonly #revoked = new Map<string, number>();
  readonly #listeners = new Set<(revocation: Revocation) => void>();
  #watermark = 0;
  #timer: NodeJS.Timeout | undefined;
  #bus: RevocationBus | undefined;

  constructor(private readonly db: Kysely<Database>) {}

  has(sessionId: string): boolean {
    return this.#revoked.has(sessionId);
  }

  /** Revocations still relevant (for the revocation feed's late subscribers). */
  current(now = Date.now()): Revocation[] {
    const list: Revocation[] = [];
    for (const [sessionId, expiresAt] of this.#revoked) if (expiresAt > now) list.push({ sessionId, expiresAt });
    return list;
  }

  /** Called for every revocation learnt, from whatever source; returns an unsubscribe function. */
  onRevoked(listener: (revocation: Revocation) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Records a revocation learnt from any source. */
  remember(revocation: Revocation): void {
    if (revocation.expiresAt <= Date.now() || this.#revoked.has(revocation.sessionId)) return;
    this.#revoked.set(revocation.sessionId, revocation.expiresAt);
    for (const listener of this.#listeners) listener(revocation);
  }

  /** Records a revocation made by this process and tells the other instances. */
  async announce(revocation: Revocation): Promise<void> {
    this.remember(revocation);
    await this.#bus?.publish(revocation);
  }

  async attachBus(bus: RevocationBus): Promise<void> {
    this.#bus = bus;
    await bus.subscribe((revocation) => this.remember(revocation));
  }

  /** Reads revocations written since the last poll (by any process) and forgets expired ones. */
  async poll(now = Date.now()): Promise<void> {
    const since = this.#watermark === 0 ? 0 : this.#watermark - POLL_OVERLAP_MS;
    const rows = await this.db
      .selectFrom('revoked_sessions')
      .select(['session_id', 'revoked_at', 'expires_at'])
      .where('revoked_at', '>=', since)
      .where('expires_at', '>', now)
      .execute();
    for (const row of rows) {
      this.remember({ sessionId: row.session_id, expiresAt: row.expires_at });
      if (row.revoked_at > this.#watermark) this.#watermark = row.revoked_at;
    }
    if (this.#watermark === 0) this.#watermark = now;
    for (const [sessionId, expiresAt] of this.#revoked) if (expiresAt <= now) this.#revoked.delete(sessionId);
  }

  /** Polls every `intervalMs` until {@link stop}. Errors (database away) are retried on the next tick. */
  start(intervalMs = 1000, onError: (error: unknown) => void = () => {}): void {
    this.#timer ??= setInterval(() => {
      this.poll().catch(onError);
    }, intervalMs).unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#bus?.close();
  }
}
