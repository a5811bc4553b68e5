import { Counter, Gauge, type Registry } from 'prom-client';
import type { Sql } from '../db/client.js';

/** Outbox metrics. The backlog gauges are read from PostgreSQL at scrape time (one indexed query). */
export function createOutboxMetrics(registry: Registry, sql: Sql) {
  let snapshot: Promise<{ pending: number; oldestAgeSeconds: number }> | undefined;
  // Both gauges are collected in one scrape: share one query between them.
  const backlog = () => {
    snapshot ??= sql<{ pending: string; age: number | null }[]>`
        SELECT count(*) AS pending, EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS age
        FROM outbox WHERE published_at IS NULL AND dead_at IS NULL`
      .then(([row]) => ({ pending: Number(row?.pending ?? 0), oldestAgeSeconds: row?.age ?? 0 }))
      .finally(() => {
        setTimeout(() => {
          snapshot = undefined;
        }, 500).unref();
      });
    return snapshot;
  };
  return {
    published: new Counter({
      name: 'hookline_events_published_total',
      help: 'Events published from the outbox to Kafka, by topic.',
      labelNames: ['topic'] as const,
      registers: [registry],
    }),
    deadRows: new Counter({
      name: 'hookline_outbox_dead_rows_total',
      help: 'Outbox rows set aside because Kafka refused them for themselves (kept, not sent).',
      registers: [registry],
    }),
    publishErrors: new Counter({
      name: 'hookline_events_publish_errors_total',
      help: 'Outbox batches that failed to publish (retried).',
      registers: [registry],
    }),
    pending: new Gauge({
      name: 'hookline_outbox_pending',
      help: 'Outbox rows not yet published.',
      registers: [registry],
      async collect() {
        this.set((await backlog()).pending);
      },
    }),
    oldestPendingAge: new Gauge({
      name: 'hookline_outbox_oldest_pending_age_seconds',
      help: 'Age of the oldest unpublished outbox row (0 when none).',
      registers: [registry],
      async collect() {
        this.set((await backlog()).oldestAgeSeconds);
      },
    }),
  };
}

export type OutboxMetrics = ReturnType<typeof createOutboxMetrics>;
