/**
 * The load generator: a process of its own (so it never shares an event loop with the server or the
 * orchestrator) that drives autocannon with one {@link LoadSpec} read from stdin: a warm-up, then
 * `reps` windows of a fixed duration, each measured on its own. Prints one JSON line with the result
 * of every window. Latencies are recorded here in exact milliseconds (autocannon's own histogram keeps whole
 * milliseconds only, too coarse for sub-millisecond p99s).
 *
 *   node --import tsx bench/load.ts < spec.json     (a spec, or an array of specs run in turn)
 */
import autocannon, { type Request, type RequestSpec } from 'autocannon';

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
  readonly durationS: number;
  readonly reps: number;
  /** Epoch ms to start at, so two load processes run side by side. */
  readonly startAt?: number;
  /** An unmeasured run after the last one, so a concurrent measurement never sees this load stop early. */
  readonly tailS?: number;
}

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
  readonly durationS: number;
  readonly statusCodes: Readonly<Record<string, number>>;
}

/** Every 2xx response's completion time and latency, in exact milliseconds, grown as needed. */
class Samples {
  at = new Float64Array(1 << 16);
  latency = new Float64Array(1 << 16);
  length = 0;

  add(at: number, ms: number): void {
    if (this.length === this.at.length) {
      const at2 = new Float64Array(this.at.length * 2);
      at2.set(this.at);
      this.at = at2;
      const lat2 = new Float64Array(this.latency.length * 2);
      lat2.set(this.latency);
      this.latency = lat2;
    }
    this.at[this.length] = at;
    this.latency[this.length++] = ms;
  }

  /** Latencies of the responses completed in [from, to). */
  window(from: number, to: number): Float64Array {
    const picked: number[] = [];
    for (let i = 0; i < this.length; i++) {
      const t = this.at[i]!;
      if (t >= from && t < to) picked.push(this.latency[i]!);
    }
    return Float64Array.from(picked).sort();
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

interface Failure {
  readonly at: number;
  readonly status: number;
}

/**
 * One continuous autocannon run over the warm-up, the measured windows and the tail; windows are cut
 * by response completion time. A continuous run has no gaps between repetitions (a new run would drop
 * the connections, and with them hashes in flight and refresh tokens being rotated).
 */
async function measure(spec: LoadSpec, pool: string[]): Promise<RunResult[]> {
  const samples = new Samples();
  const failures: Failure[] = [];
  let errors = 0;
  const reqs = requests(spec, pool);
  const total = spec.warmupS + spec.reps * spec.durationS + (spec.tailS ?? 0);
  const instance = autocannon({
    url: spec.url,
    method: spec.method,
    headers: { ...spec.headers },
    ...(spec.body === undefined ? {} : { body: spec.body }),
    connections: spec.connections,
    duration: total,
    // autocannon checks for the end of a run on each sample tick (1 s by default): tick often, stop on time.
    sampleInt: 100,
    timeout: 30,
    ...(spec.rate === undefined ? {} : { overallRate: spec.rate }),
    ...(reqs === undefined ? {} : { requests: reqs }),
  });
  const started = performance.now();
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    const at = performance.now() - started;
    if (statusCode >= 200 && statusCode < 300) samples.add(at, responseTime);
    else failures.push({ at, status: statusCode });
  });
  instance.on('reqError', () => errors++);
  await instance;
  const runs: RunResult[] = [];
  for (let i = 0; i < spec.reps; i++) {
    const from = (spec.warmupS + i * spec.durationS) * 1000;
    const to = from + spec.durationS * 1000;
    const sorted = samples.window(from, to);
    let sum = 0;
    for (const v of sorted) sum += v;
    const statusCodes: Record<string, number> = {};
    if (sorted.length > 0) statusCodes['2xx'] = sorted.length;
    let non2xx = 0;
    for (const f of failures) {
      if (f.at >= from && f.at < to) {
        non2xx++;
        statusCodes[f.status] = (statusCodes[f.status] ?? 0) + 1;
      }
    }
    runs.push({
      rps: sorted.length / spec.durationS,
      ok: sorted.length,
      non2xx,
      errors: i === 0 ? errors : 0,
      timeouts: 0,
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      p999: percentile(sorted, 0.999),
      max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
      mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
      durationS: spec.durationS,
      statusCodes,
    });
  }
  return runs;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

// One spec, or several run one after another (saving a process start per measurement).
const input = JSON.parse(await readStdin()) as LoadSpec | LoadSpec[];
const results: { runs: RunResult[]; poolLeft: number }[] = [];
for (const spec of Array.isArray(input) ? input : [input]) {
  const pool = [...(spec.chain?.seeds ?? [])];
  if (spec.startAt !== undefined) await new Promise((resolve) => setTimeout(resolve, Math.max(0, spec.startAt! - Date.now())));
  results.push({ runs: await measure(spec, pool), poolLeft: pool.length });
}
process.stdout.write(JSON.stringify(Array.isArray(input) ? results : results[0]) + '\n');
