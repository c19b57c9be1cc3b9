/**
 * One refresh at a time across the tabs of an origin, and the news of a login, refresh or logout
 * passed between them. A refresh token rotates: two tabs spending it at once would get the same
 * successor (Latchkey's reuse grace) but only one should, and a logout in one tab must reach the others.
 *
 * With Web Locks (`navigator.locks`) the tabs take turns; where they are missing (older browsers,
 * Node) the tabs run a short election over the BroadcastChannel: each claims the refresh, the lowest
 * tab id wins, the others wait for its result.
 */
import type { StoredSession } from './storage.ts';

export type TabMessage =
  | { readonly type: 'session'; readonly reason: 'authenticated' | 'refreshed'; readonly session: StoredSession }
  | { readonly type: 'unauthenticated' }
  | { readonly type: 'claim'; readonly tab: string };

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

/** How long the other tabs wait for a refresh result before refreshing themselves. */
const PEER_WAIT_MS = 3000;
/** How long a claiming tab listens for competing claims. */
const ELECTION_MS = 30;
/** A refreshing tab keeps the lock this much longer, so that its broadcast lands before the next tab looks. */
const LOCK_LINGER_MS = 50;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class TabCoordinator {
  readonly #channel: BroadcastChannel;
  readonly #locks: LockManagerLike | undefined;
  readonly #tab = Math.random().toString(36).slice(2) + Date.now().toString(36);
  readonly #waiters = new Set<() => void>();
  #peerRefreshUntil = 0;
  #competitors: string[] | undefined;

  constructor(
    private readonly name: string,
    private readonly onMessage: (message: TabMessage) => void,
    options: { useLocks?: boolean } = {},
  ) {
    this.#channel = new BroadcastChannel(name);
    // Node keeps the process alive for an open channel; a client must not.
    (this.#channel as unknown as { unref?: () => void }).unref?.();
    this.#channel.onmessage = (event: MessageEvent) => this.#receive(event.data as TabMessage);
    const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
    this.#locks = options.useLocks === false ? undefined : locks;
  }

  post(message: TabMessage): void {
    this.#channel.postMessage(message);
  }

  close(): void {
    this.#channel.close();
    for (const wake of this.#waiters) wake();
  }

  #receive(message: TabMessage): void {
    if (message.type === 'claim') {
      this.#peerRefreshUntil = Date.now() + PEER_WAIT_MS;
      this.#competitors?.push(message.tab);
      return;
    }
    this.#peerRefreshUntil = 0;
    this.onMessage(message);
    for (const wake of this.#waiters) wake();
  }

  /** Resolves at the next session or logout message from another tab, or after `ms`. */
  #nextNews(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.#waiters.delete(done);
        resolve();
      }
      this.#waiters.add(done);
    });
  }

  /**
   * Runs `refresh` unless another tab does it first. `settled()` tells, after waiting for another tab,
   * whether its result made a refresh here unnecessary (and what to use instead).
   */
  async exclusive(refresh: () => Promise<StoredSession>, settled: () => StoredSession | undefined): Promise<StoredSession> {
    const locks = this.#locks;
    if (locks) {
      return new Promise<StoredSession>((resolve, reject) => {
        locks
          .request(`${this.name}:refresh`, async () => {
            try {
              resolve(settled() ?? (await refresh()));
            } catch (error) {
              reject(error);
              return;
            }
            // Callers have their result already; only the next tab waits.
            await sleep(LOCK_LINGER_MS);
          })
          .catch(reject);
      });
    }

    if (Date.now() < this.#peerRefreshUntil) {
      await this.#nextNews(PEER_WAIT_MS);
      const adopted = settled();
      if (adopted) return adopted;
    }
    this.#competitors = [];
    this.post({ type: 'claim', tab: this.#tab });
    await sleep(ELECTION_MS);
    const lost = this.#competitors.some((tab) => tab < this.#tab);
    this.#competitors = undefined;
    if (lost) {
      await this.#nextNews(PEER_WAIT_MS);
      const adopted = settled();
      if (adopted) return adopted;
    }
    return refresh();
  }
}
