/**
 * How the primary adds up its workers' figures under `serve --workers` (scale/cluster-metrics.ts uses
 * prom-client's AggregatorRegistry): what each worker counts is summed, what every worker reads from the
 * one database is not. The IPC round trip itself is tested with real workers in workers.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregatorRegistry } from 'prom-client';
import { mailMetrics } from '../../src/mail/metrics.ts';
import { Metrics } from '../../src/metrics.ts';

function valueOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("two workers' figures: requests and logins add up, the outbox's waiting count is the database's, not twice it", async () => {
  const workers = [new Metrics({ defaultMetrics: false }), new Metrics({ defaultMetrics: false })];
  for (const [i, worker] of workers.entries()) {
    // Both read the same outbox: three messages waiting.
    const mail = mailMetrics(worker.registry, async () => 3);
    mail.sent.inc({ kind: 'verify_email' }, i + 1);
    worker.logins.inc({ outcome: 'failure' }, 2 + i);
    worker.httpRecorder('/healthz')('GET', 200, 1);
  }
  const total = await AggregatorRegistry.aggregate(await Promise.all(workers.map((w) => w.registry.getMetricsAsJSON()))).metrics();
  assert.equal(valueOf(total, 'latchkey_mail_waiting'), 3);
  assert.equal(valueOf(total, 'latchkey_mail_sent_total{kind="verify_email"}'), 3);
  assert.equal(valueOf(total, 'latchkey_logins_total{outcome="failure"}'), 5);
  assert.equal(valueOf(total, 'latchkey_http_requests_total{route="/healthz",method="GET",status="200"}'), 2);
  assert.equal(valueOf(total, 'latchkey_http_request_duration_seconds_count{route="/healthz",method="GET",status="200"}'), 2);
});
