/**
 * Test support: waits for something to become true (a server listening, a mail sent in the background, a
 * log line), polling it, never sleeping a fixed time. The deadline is a budget for a quiet machine times
 * {@link timeScale}: a machine busy with other work (a loaded CI runner, tests running side by side) gets
 * longer, so a slow moment fails no test, while something that never happens still fails, only later.
 *
 * @example
 *   await waitUntil('the sender delivers', async () => (await rowsTo(server, to)).length === 1);
 *   const deadline = scaled(20_000); // for a wait of one's own, such as a timer that kills a stuck process
 */
import { availableParallelism, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/** The most a deadline grows, so that a wait that never ends still ends the test. */
const MAX_SCALE = 10;

/**
 * How much longer than on a quiet machine things may take now: LATCHKEY_TEST_TIME_SCALE when set (a slow
 * runner may ask for more), and at least the one-minute load average per core (two runnable processes per
 * core: twice as long). Never below 1, never above {@link MAX_SCALE}.
 */
export function timeScale(): number {
  const asked = Number(process.env.LATCHKEY_TEST_TIME_SCALE);
  const load = (loadavg()[0] ?? 0) / availableParallelism();
  return Math.min(MAX_SCALE, Math.max(1, Number.isFinite(asked) ? asked : 1, load));
}

/** A budget for a quiet machine, in milliseconds, scaled to this machine now. */
export function scaled(ms: number): number {
  return Math.round(ms * timeScale());
}

export interface WaitOptions {
  /** The budget on a quiet machine; {@link scaled} when the wait starts. Default 10 s. */
  readonly timeoutMs?: number;
  /** The pause between two checks. Default 50 ms. */
  readonly intervalMs?: number;
  /** What else to tell when the wait fails (a process's output so far). */
  readonly detail?: () => string;
}

/**
 * Checks `condition` until it returns something other than `false`, `undefined` or `null`, and resolves
 * with that; throws "`what`: not within … ms" when the scaled deadline passes first. An error thrown by the
 * condition ends the wait at once.
 */
export async function waitUntil<T>(
  what: string,
  condition: () => T | false | undefined | null | Promise<T | false | undefined | null>,
  options: WaitOptions = {},
): Promise<T> {
  const budget = scaled(options.timeoutMs ?? 10_000);
  const deadline = Date.now() + budget;
  for (;;) {
    const value = await condition();
    if (value !== false && value !== undefined && value !== null) return value;
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${budget} ms${options.detail ? `:\n${options.detail()}` : ''}`);
    }
    await sleep(options.intervalMs ?? 50);
  }
}
