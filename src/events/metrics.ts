import { Counter, Gauge, type Registry } from 'prom-client';
import type { Sql } from '../db/client.js';
import { zeroed } from '../metrics/labels.js';
import { metricNames } from '../metrics/names.js';
import { sampled } from '../metrics/sampled.js';
import { allTopics } from './topics.js';

/**
 * Outbox metrics. The backlog gauges come from one indexed PostgreSQL query, refreshed in the
 * background at most every 2 s (see `sampled`), shared by both gauges.
 */
export function createOutboxMetrics(registry: Registry, sql: Sql) {
  const backlog = sampled(
    async () => {
      const [row] = await sql<{ pending: string; age: number | null }[]>`
        SELECT count(*) AS pending, EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS age
        FROM outbox WHERE published_at IS NULL AND dead_at IS NULL`;
      return { pending: Number(row?.pending ?? 0), oldestAgeSeconds: row?.age ?? 0 };
    },
    { maxAgeMs: 2_000 },
  );
  return {
    published: zeroed(
      new Counter({
        name: metricNames.eventsPublished,
        help: 'Events published from the outbox to Kafka, by topic.',
        labelNames: ['topic'] as const,
        registers: [registry],
      }),
      'topic',
      allTopics,
    ),
    deadRows: new Counter({
      name: metricNames.outboxDeadRows,
      help: 'Outbox rows set aside because Kafka refused them for themselves (kept, not sent).',
      registers: [registry],
    }),
    publishErrors: new Counter({
      name: metricNames.eventsPublishErrors,
      help: 'Outbox batches that failed to publish (retried).',
      registers: [registry],
    }),
    pending: new Gauge({
      name: metricNames.outboxPending,
      help: 'Outbox rows not yet published.',
      registers: [registry],
      async collect() {
        const value = await backlog();
        if (value) this.set(value.pending);
      },
    }),
    oldestPendingAge: new Gauge({
      name: metricNames.outboxOldestPendingAge,
      help: 'Age of the oldest unpublished outbox row (0 when none).',
      registers: [registry],
      async collect() {
        const value = await backlog();
        if (value) this.set(value.oldestAgeSeconds);
      },
    }),
  };
}

export type OutboxMetrics = ReturnType<typeof createOutboxMetrics>;
