/**
 * `/metrics` under `serve --workers N`: whichever worker a scrape reaches answers for the whole machine.
 * The worker asks its primary; the primary collects every listening worker's registry (prom-client's
 * JSON form, over the cluster's IPC channel) and sums them with prom-client's `AggregatorRegistry`
 * (counters and histograms add up; each default metric aggregates as prom-client declares it).
 *
 * A worker that does not answer within {@link COLLECT_TIMEOUT_MS} is left out of that scrape, and
 * `latchkey_metrics_workers_reporting` says how many answered; a primary that does not answer makes the
 * scrape a 503 (never one worker's figures passed off as the machine's).
 *
 * @example
 *   // worker: what workerServerOptions passes to the server
 *   const metrics = workerMetrics();
 *   // primary, in runPrimary
 *   answerMetricsRequests(() => listeningWorkers());
 */
import type { Worker } from 'node:cluster';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { ServiceUnavailable } from '../errors.ts';
import { Metrics } from '../metrics.ts';

const METRICS_CHANNEL = 'latchkey:metrics';
/** How long the primary waits for each worker's figures. */
const COLLECT_TIMEOUT_MS = 2000;
/** How long a worker waits for its primary's totals (the primary's own wait, and some room). */
const GATHER_TIMEOUT_MS = COLLECT_TIMEOUT_MS + 1000;

type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];

/** worker → primary: a scrape arrived; primary → worker: the machine's totals, as exposition text. */
interface GatherRequest {
  readonly channel: typeof METRICS_CHANNEL;
  readonly kind: 'gather';
  readonly id: number;
}
interface GatherAnswer {
  readonly channel: typeof METRICS_CHANNEL;
  readonly kind: 'gathered';
  readonly id: number;
  /** Absent when the figures could not be added up (the scrape is a 503). */
  readonly text?: string;
}
/** primary → every worker: send your figures; worker → primary: here they are. */
interface CollectRequest {
  readonly channel: typeof METRICS_CHANNEL;
  readonly kind: 'collect';
  readonly id: number;
}
interface CollectAnswer {
  readonly channel: typeof METRICS_CHANNEL;
  readonly kind: 'collected';
  readonly id: number;
  readonly metrics: WorkerMetrics;
}
type MetricsMessage = GatherRequest | GatherAnswer | CollectRequest | CollectAnswer;

function isMetricsMessage(message: unknown): message is MetricsMessage {
  return typeof message === 'object' && message !== null && (message as { channel?: unknown }).channel === METRICS_CHANNEL;
}

/** A worker's metrics: its own registry answers the primary's collections; its `/metrics` totals every worker. */
export function workerMetrics(): Metrics {
  const answers = new Map<number, (text: string | undefined) => void>();
  let nextId = 1;
  /** False when there is no primary to ask; `process.send`'s own false only means "queued", not "lost". */
  const send = (message: MetricsMessage, sent?: (error: Error | null) => void): boolean => {
    if (process.send === undefined || !process.connected) return false;
    process.send(message, undefined, undefined, sent);
    return true;
  };

  const gather = (): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const fail = () => {
        if (answers.delete(id)) reject(new ServiceUnavailable('cluster primary (metrics)'));
      };
      const timer = setTimeout(fail, GATHER_TIMEOUT_MS);
      answers.set(id, (text) => {
        clearTimeout(timer);
        if (text === undefined) fail();
        else if (answers.delete(id)) resolve(text);
      });
      const asked = send({ channel: METRICS_CHANNEL, kind: 'gather', id }, (error) => {
        if (error) {
          clearTimeout(timer);
          fail();
        }
      });
      if (!asked) {
        clearTimeout(timer);
        fail();
      }
    });

  const metrics = new Metrics({ exposition: gather });
  process.on('message', (message: unknown) => {
    if (!isMetricsMessage(message)) return;
    if (message.kind === 'gathered') answers.get(message.id)?.(message.text);
    else if (message.kind === 'collect') {
      // A registry that cannot be read leaves this worker out of the scrape (the primary stops waiting).
      void metrics.registry.getMetricsAsJSON().then(
        (figures) => send({ channel: METRICS_CHANNEL, kind: 'collected', id: message.id, metrics: figures as WorkerMetrics }),
        () => undefined,
      );
    }
  });
  return metrics;
}

/**
 * The primary's side: answers each worker's scrape with the sum of every listening worker's figures.
 * `workers()` names the workers to ask (those listening: one still starting has nothing to say yet).
 */
export function answerMetricsRequests(workers: () => Worker[]): (from: Worker, message: unknown) => boolean {
  const collections = new Map<number, { readonly expected: number; readonly figures: WorkerMetrics[]; done(): void }>();
  let nextCollection = 1;

  const collect = (): Promise<WorkerMetrics[]> => {
    const asked = workers().filter((worker) => worker.isConnected());
    const id = nextCollection++;
    return new Promise<WorkerMetrics[]>((resolve) => {
      const figures: WorkerMetrics[] = [];
      const done = () => {
        if (!collections.delete(id)) return;
        clearTimeout(timer);
        resolve(figures);
      };
      const timer = setTimeout(done, COLLECT_TIMEOUT_MS);
      collections.set(id, { expected: asked.length, figures, done });
      for (const worker of asked) worker.send({ channel: METRICS_CHANNEL, kind: 'collect', id } satisfies CollectRequest);
      if (asked.length === 0) done();
    });
  };

  const total = async (): Promise<string> => {
    const figures = await collect();
    const registry = AggregatorRegistry.aggregate(figures);
    const reporting = `# HELP latchkey_metrics_workers_reporting Workers whose figures this scrape adds up
# TYPE latchkey_metrics_workers_reporting gauge
latchkey_metrics_workers_reporting ${figures.length}
`;
    return (await registry.metrics()) + reporting;
  };

  /** Handles a metrics message from a worker; false for any other message. */
  return (from, message) => {
    if (!isMetricsMessage(message)) return false;
    if (message.kind === 'collected') {
      const collection = collections.get(message.id);
      if (collection) {
        collection.figures.push(message.metrics);
        if (collection.figures.length >= collection.expected) collection.done();
      }
    } else if (message.kind === 'gather') {
      void total()
        .catch(() => undefined)
        .then((text) => {
          if (from.isConnected()) from.send({ channel: METRICS_CHANNEL, kind: 'gathered', id: message.id, text } satisfies GatherAnswer);
        });
    }
    return true;
  };
}
