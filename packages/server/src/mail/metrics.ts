/** Mail metrics on the server's registry (SPEC §10): sent, failed attempts, and messages waiting. */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface MailMetrics {
  readonly sent: Counter<'kind'>;
  readonly failed: Counter<'kind' | 'outcome'>;
}

function existing<T>(registry: Registry, name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}

/** Registers the mail metrics once per registry; `waiting` is read from the outbox at each scrape. */
export function mailMetrics(registry: Registry, countWaiting: () => Promise<number>): MailMetrics {
  const sent =
    existing<Counter<'kind'>>(registry, 'latchkey_mail_sent_total') ??
    new Counter({
      name: 'latchkey_mail_sent_total',
      help: 'Messages accepted by the SMTP server (or logged), by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    });
  const failed =
    existing<Counter<'kind' | 'outcome'>>(registry, 'latchkey_mail_failed_total') ??
    new Counter({
      name: 'latchkey_mail_failed_total',
      help: 'Failed delivery attempts, by kind and outcome (retry, given_up)',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    });
  if (!existing(registry, 'latchkey_mail_waiting')) {
    new Gauge({
      name: 'latchkey_mail_waiting',
      help: 'Messages in the outbox waiting for delivery',
      registers: [registry],
      // One outbox in the database, counted alike by every worker: under `serve --workers` a scrape's total
      // takes one worker's count, not their sum (scale/cluster-metrics.ts).
      aggregator: 'first',
      async collect() {
        // A database that does not answer must not break the whole scrape: the last value stays.
        try {
          this.set(await countWaiting());
        } catch {
          // keep the previous value
        }
      },
    });
  }
  return { sent, failed };
}
