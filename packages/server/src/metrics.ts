/**
 * Prometheus metrics, on a registry of their own per server (so tests can run several in one process).
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'latchkey_http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'latchkey_http_request_duration_seconds',
    help: 'HTTP request latency by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly logins = new Counter({
    name: 'latchkey_logins_total',
    help: 'Login attempts by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly refreshes = new Counter({
    name: 'latchkey_refreshes_total',
    help: 'Refresh attempts by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly refreshReuse = new Counter({
    name: 'latchkey_refresh_token_reuse_total',
    help: 'Spent refresh tokens presented after the grace (sessions revoked as stolen)',
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'latchkey_rate_limited_total',
    help: 'Requests refused by a rate limit, by limit',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  /**
   * Records the answers of one route (`unmatched` for those no route matched) in the request counter and
   * histogram: a label set is built once per method and status, not on every request.
   * @returns record(method, status, elapsed ms)
   */
  httpRecorder(route: string): (method: string, status: number, elapsedMs: number) => void {
    const labelSets = new Map<string, { route: string; method: string; status: string }>();
    return (method, status, elapsedMs) => {
      const key = method + status;
      let labels = labelSets.get(key);
      if (labels === undefined) {
        labels = { route, method, status: String(status) };
        labelSets.set(key, labels);
      }
      this.httpRequests.inc(labels);
      this.httpDuration.observe(labels, elapsedMs / 1000);
    };
  }

  readonly #exposition: (() => Promise<string>) | undefined;

  /**
   * @param options.exposition what `/metrics` answers instead of this registry alone (a cluster worker
   *   answers for every worker: scale/cluster-metrics.ts)
   */
  constructor(options: { defaultMetrics?: boolean; exposition?: () => Promise<string> } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.#exposition = options.exposition;
  }

  /** The text `/metrics` answers: this registry's, or the cluster's totals under `serve --workers`. */
  text(): Promise<string> {
    return this.#exposition ? this.#exposition() : this.registry.metrics();
  }
}
