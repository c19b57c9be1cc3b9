/**
 * The load generator: a process of its own (so it never shares an event loop with the server or the
 * orchestrator) that drives autocannon with one {@link LoadSpec} read from stdin: a warm-up, then
 * `reps` windows, each measured on its own: its answers, latencies, and the server's CPU time across it
 * (read from /proc at the window's edges), so that every figure comes with its CPU per request. Prints one JSON line with the result
 * of every window. Latencies are recorded here in exact milliseconds (autocannon's own histogram keeps whole
 * milliseconds only, too coarse for sub-millisecond p99s).
 *
 *   node --import tsx bench/load.ts < spec.json     (a spec, or an array of specs run in turn)
 */
import autocannon, { type Request, type RequestSpec } from 'autocannon';
import { machineCpuUs, poolThreads, threads, treeCpuUs } from './lib/proc.ts';

export interface LoadSpec {
  readonly url: string;
  readonly method: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Request bodies used in turn (login as several users). */
  readonly bodies?: readonly string[];
  /**
   * Refresh-token chaining: each request spends a token from the pool and puts the successor from its
   * response back, so every request rotates an unspent token, as real clients do.
   */
  readonly chain?: { readonly field: string; readonly from: string; readonly seeds: readonly string[] };
  readonly connections: number;
  /** Overall requests per second (a fixed-rate latency run); unlimited when absent. */
  readonly rate?: number;
  readonly warmupS: number;
  /** The shortest window. */
  readonly durationS: number;
  /**
   * The longest a window may grow to reach {@link MIN_ANSWERS} answers and {@link P99_MULTIPLE} × its p99
   * (slow requests: logins). Absent or equal to `durationS`: fixed windows (a probe that must stay inside
   * another load's run).
   */
  readonly maxWindowS?: number;
  readonly reps: number;
  /** Epoch ms to start at, so two load processes run side by side. */
  readonly startAt?: number;
  /** An unmeasured run after the last one, so a concurrent measurement never sees this load stop early. */
  readonly tailS?: number;
  /** The server's pid: its CPU time (and its workers') is read at every window boundary. */
  readonly cpuPid?: number;
}

/** A window counts only with at least this many answers… */
export const MIN_ANSWERS = 50;
/** …and when it lasts at least this many times its p99 (else the slowest requests straddle its edges). */
export const P99_MULTIPLE = 20;

export interface RunResult {
  /** 2xx responses per second. */
  readonly rps: number;
  readonly ok: number;
  readonly non2xx: number;
  /** Connection errors over the whole run (reported on the first window). */
  readonly errors: number;
  readonly timeouts: number;
  /** Latency percentiles of 2xx responses, ms. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
  /** The window's real length. */
  readonly durationS: number;
  /** Epoch ms of the window's edges (to line up concurrent loads). */
  readonly fromEpochMs: number;
  readonly toEpochMs: number;
  /** Whether the window held {@link MIN_ANSWERS} answers and lasted {@link P99_MULTIPLE} × its p99; if not, its figures are not used. */
  readonly valid: boolean;
  /** CPU time of the server (all threads and workers) in the window, µs; null when it could not be read. */
  readonly serverCpuUs: number | null;
  /** serverCpuUs ÷ answers (2xx and not). */
  readonly cpuPerRequestUs: number | null;
  /**
   * CPU of the server's pool threads in the window (the threads other than the main one that did the
   * most work, see `poolThreads`: the hashing threads during logins), µs; null when unreadable.
   */
  readonly poolCpuUs: number | null;
  /** CPU of this load generator in the window, µs. */
  readonly loadCpuUs: number;
  /** Busy CPU of the whole machine in the window, µs, and what was left after the server and this load generator. */
  readonly machineBusyUs: number | null;
  readonly otherCpuUs: number | null;
  readonly statusCodes: Readonly<Record<string, number>>;
}

/** Every response's completion time, latency and status, in exact milliseconds, grown as needed. */
class Samples {
  at = new Float64Array(1 << 16);
  latency = new Float64Array(1 << 16);
  status = new Uint16Array(1 << 16);
  length = 0;

  add(at: number, ms: number, status: number): void {
    if (this.length === this.at.length) {
      const grow = <T extends Float64Array | Uint16Array>(a: T, make: (n: number) => T): T => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this.at = grow(this.at, (n) => new Float64Array(n));
      this.latency = grow(this.latency, (n) => new Float64Array(n));
      this.status = grow(this.status, (n) => new Uint16Array(n));
    }
    this.at[this.length] = at;
    this.status[this.length] = status;
    this.latency[this.length++] = ms;
  }

  /** Whether the 2xx answers since index `from` are enough, and their p99 short enough, for a window of `elapsedMs`. */
  enough(from: number, elapsedMs: number): boolean {
    let ok = 0;
    let slow = 0;
    const limit = elapsedMs / P99_MULTIPLE;
    for (let i = from; i < this.length; i++) {
      if (this.status[i]! < 200 || this.status[i]! >= 300) continue;
      ok++;
      if (this.latency[i]! > limit) slow++;
    }
    // p99 ≤ limit ⇔ at most 1 % of the answers are slower (the percentile below picks rank ceil(0.99 n)).
    return ok >= MIN_ANSWERS && ok - slow >= Math.ceil(0.99 * ok);
  }
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

function requests(spec: LoadSpec, pool: string[]): RequestSpec[] | undefined {
  const { chain, bodies } = spec;
  if (chain) {
    return [
      {
        method: spec.method,
        setupRequest(request: Request): Request {
          // An empty pool means lost successors (runs cut at their end): the request then fails visibly as non-2xx.
          const token = pool.shift() ?? 'exhausted';
          return { ...request, body: JSON.stringify({ [chain.field]: token }) };
        },
        onResponse(status: number, body: string): void {
          if (status !== 200) return;
          const next = (JSON.parse(body) as Record<string, unknown>)[chain.from];
          if (typeof next === 'string') pool.push(next);
        },
      },
    ];
  }
  if (bodies && bodies.length > 0) {
    let i = 0;
    return [
      {
        method: spec.method,
        setupRequest(request: Request): Request {
          return { ...request, body: bodies[i++ % bodies.length] ?? '' };
        },
      },
    ];
  }
  return undefined;
}

/** What is read at a window edge. */
interface Edge {
  readonly t: number;
  readonly epochMs: number;
  readonly index: number;
  readonly serverUs: number | undefined;
  /** CPU and nice value per thread of the server's main process, by thread id. */
  readonly threadUs: ReadonlyMap<number, { readonly cpuUs: number; readonly nice: number }> | undefined;
  readonly loadUs: number;
  readonly machine: { busyUs: number; totalUs: number } | undefined;
}

/**
 * One continuous autocannon run over the warm-up, the measured windows and the tail; windows are cut
 * by response completion time. A continuous run has no gaps between repetitions (a new run would drop
 * the connections, and with them hashes in flight and refresh tokens being rotated). A window closes
 * after `durationS` once it holds enough answers for its p99 (checked every 50 ms), or at `maxWindowS`.
 */
async function measure(spec: LoadSpec, pool: string[]): Promise<{ runs: RunResult[]; answered: number }> {
  const samples = new Samples();
  let errors = 0;
  const reqs = requests(spec, pool);
  const maxWindowS = Math.max(spec.durationS, spec.maxWindowS ?? spec.durationS);
  const fixed = maxWindowS === spec.durationS;
  const longest = spec.warmupS + spec.reps * maxWindowS + (spec.tailS ?? 0);
  const instance = autocannon({
    url: spec.url,
    method: spec.method,
    headers: { ...spec.headers },
    ...(spec.body === undefined ? {} : { body: spec.body }),
    connections: spec.connections,
    // Stopped by hand when the windows are done; this is only a backstop.
    duration: longest + 5,
    sampleInt: 100,
    timeout: 30,
    ...(spec.rate === undefined ? {} : { overallRate: spec.rate }),
    ...(reqs === undefined ? {} : { requests: reqs }),
  });
  const started = performance.now();
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    samples.add(performance.now() - started, responseTime, statusCode);
  });
  instance.on('reqError', () => errors++);
  const done = new Promise<void>((resolve) => void instance.then(() => resolve()));

  const edge = (): Edge => {
    const t = performance.now() - started;
    const cpu = process.cpuUsage();
    return {
      t,
      epochMs: Date.now(),
      index: samples.length,
      serverUs: spec.cpuPid === undefined ? undefined : treeCpuUs(spec.cpuPid),
      threadUs: spec.cpuPid === undefined ? undefined : new Map(threads(spec.cpuPid).map((t) => [t.tid, { cpuUs: t.cpuUs, nice: t.nice }])),
      loadUs: cpu.user + cpu.system,
      machine: machineCpuUs(),
    };
  };
  const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - (performance.now() - started))));

  await sleepUntil(spec.warmupS * 1000);
  const edges: Edge[] = [edge()];
  for (let i = 0; i < spec.reps; i++) {
    const from = edges[edges.length - 1]!;
    await sleepUntil(from.t + spec.durationS * 1000);
    if (!fixed) {
      while (
        performance.now() - started - from.t < maxWindowS * 1000 &&
        !samples.enough(from.index, performance.now() - started - from.t)
      ) {
        await sleepUntil(performance.now() - started + 50);
      }
    }
    edges.push(edge());
  }
  if (spec.tailS) await sleepUntil(edges[edges.length - 1]!.t + spec.tailS * 1000);
  instance.stop();
  await done;

  const runs: RunResult[] = [];
  for (let i = 0; i < spec.reps; i++) {
    const a = edges[i]!;
    const b = edges[i + 1]!;
    const durationS = (b.t - a.t) / 1000;
    const ok: number[] = [];
    const statusCodes: Record<string, number> = {};
    let non2xx = 0;
    for (let j = a.index; j < b.index; j++) {
      const status = samples.status[j]!;
      if (status >= 200 && status < 300) ok.push(samples.latency[j]!);
      else {
        non2xx++;
        statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      }
    }
    const sorted = Float64Array.from(ok).sort();
    if (sorted.length > 0) statusCodes['2xx'] = sorted.length;
    let sum = 0;
    for (const v of sorted) sum += v;
    const p99 = percentile(sorted, 0.99);
    const answers = sorted.length + non2xx;
    const serverCpuUs = a.serverUs === undefined || b.serverUs === undefined ? null : b.serverUs - a.serverUs;
    const loadCpuUs = b.loadUs - a.loadUs;
    const poolCpuUs =
      a.threadUs === undefined || b.threadUs === undefined || spec.cpuPid === undefined
        ? null
        : poolThreads(
            [...b.threadUs].map(([tid, t]) => ({ tid, nice: t.nice, delta: t.cpuUs - (a.threadUs!.get(tid)?.cpuUs ?? 0) })),
            spec.cpuPid,
          ).reduce((sum, t) => sum + t.delta, 0);
    const machineBusyUs = a.machine === undefined || b.machine === undefined ? null : b.machine.busyUs - a.machine.busyUs;
    runs.push({
      rps: sorted.length / durationS,
      ok: sorted.length,
      non2xx,
      errors: i === 0 ? errors : 0,
      timeouts: 0,
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99,
      p999: percentile(sorted, 0.999),
      max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
      mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
      durationS,
      fromEpochMs: a.epochMs,
      toEpochMs: b.epochMs,
      valid: sorted.length >= MIN_ANSWERS && durationS * 1000 >= P99_MULTIPLE * p99,
      serverCpuUs,
      cpuPerRequestUs: serverCpuUs === null || answers === 0 ? null : serverCpuUs / answers,
      poolCpuUs,
      loadCpuUs,
      machineBusyUs,
      otherCpuUs: machineBusyUs === null ? null : Math.max(0, machineBusyUs - (serverCpuUs ?? 0) - loadCpuUs),
      statusCodes,
    });
  }
  let answered = 0;
  for (let j = 0; j < samples.length; j++) if (samples.status[j]! >= 200 && samples.status[j]! < 300) answered++;
  return { runs, answered };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

// One spec, or several run one after another (saving a process start per measurement).
const input = JSON.parse(await readStdin()) as LoadSpec | LoadSpec[];
/** Each spec's windows, the refresh tokens left in its pool, and its 2xx answers over the whole run (warm-up and tail included). */
const results: { runs: RunResult[]; poolLeft: number; answered: number }[] = [];
for (const spec of Array.isArray(input) ? input : [input]) {
  const pool = [...(spec.chain?.seeds ?? [])];
  if (spec.startAt !== undefined) await new Promise((resolve) => setTimeout(resolve, Math.max(0, spec.startAt! - Date.now())));
  const { runs, answered } = await measure(spec, pool);
  results.push({ runs, poolLeft: pool.length, answered });
}
process.stdout.write(JSON.stringify(Array.isArray(input) ? results : results[0]) + '\n');
