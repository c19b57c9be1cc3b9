/** Medians and the shapes results are recorded in. */
import type { RunResult } from '../load.ts';

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface Measurement {
  /** What was measured, for the report. */
  readonly label: string;
  readonly method: string;
  readonly path: string;
  readonly connections: number;
  /** Fixed overall request rate, when the run was a latency run at a set rate. */
  readonly rate?: number;
  readonly runs: readonly RunResult[];
  /**
   * Medians over the windows that count (enough answers, long enough for their p99); NaN (null in the
   * results file) when none did: "not measured", never 0.
   */
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** The server's CPU time per request served, µs: the figure a busy machine does not move much. */
  readonly cpuUs: number;
  /** CPU of the server's pool threads per request (the hashing threads, for logins), µs. */
  readonly poolCpuUs: number;
  /** Windows that count, of all measured. */
  readonly validRuns: number;
  /** CPU that the rest of the machine took during the windows, in cores (median). */
  readonly otherCores: number;
  /** Non-2xx responses and connection errors over all runs (should be 0). */
  readonly failures: number;
}

export function summarize(
  label: string,
  method: string,
  path: string,
  connections: number,
  runs: readonly RunResult[],
  rate?: number,
): Measurement {
  const valid = runs.filter((r) => r.valid);
  return {
    label,
    method,
    path,
    connections,
    ...(rate === undefined ? {} : { rate }),
    runs,
    rps: median(valid.map((r) => r.rps)),
    p50: median(valid.map((r) => r.p50)),
    p99: median(valid.map((r) => r.p99)),
    cpuUs: median(valid.map((r) => r.cpuPerRequestUs ?? Number.NaN)),
    poolCpuUs: median(valid.map((r) => (r.poolCpuUs === null || r.ok + r.non2xx === 0 ? Number.NaN : r.poolCpuUs / (r.ok + r.non2xx)))),
    validRuns: valid.length,
    otherCores: median(runs.map((r) => (r.otherCpuUs === null ? Number.NaN : r.otherCpuUs / 1e6 / r.durationS))),
    failures: runs.reduce((n, r) => n + r.non2xx + r.errors, 0),
  };
}

export interface Target {
  readonly id: string;
  readonly measure: string;
  readonly op: '>=' | '<=';
  readonly threshold: number;
  /** The measured figure; null when it could not be measured in this run. */
  readonly value: number | null;
  readonly unit: string;
  readonly met: boolean | null;
  /** How the figure was obtained (the two numbers behind a ratio). */
  readonly detail: string;
}

export function target(
  id: string,
  measure: string,
  op: '>=' | '<=',
  threshold: number,
  value: number | null,
  unit: string,
  detail: string,
): Target {
  const ok = value === null || !Number.isFinite(value) ? null : op === '>=' ? value >= threshold : value <= threshold;
  return { id, measure, op, threshold, value: value !== null && Number.isFinite(value) ? value : null, unit, met: ok, detail };
}
