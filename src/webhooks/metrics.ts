import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export function createWebhookMetrics(registry: Registry) {
  return {
    eventsConsumed: new Counter({
      name: 'hookline_webhook_events_consumed_total',
      help: 'Events read by the fan-out worker, by topic.',
      labelNames: ['topic'] as const,
      registers: [registry],
    }),
    deliveriesCreated: new Counter({
      name: 'hookline_webhook_deliveries_created_total',
      help: 'Deliveries created by fan-out (one per matching event and subscription).',
      registers: [registry],
    }),
    deliveries: new Counter({
      name: 'hookline_webhook_deliveries_total',
      help: 'Delivery attempts by outcome: succeeded, retrying (will be retried) or dead (no attempt left, or disabled).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    attempts: new Counter({
      name: 'hookline_webhook_attempts_total',
      help: 'Delivery attempts by answer class (2xx, 3xx, 4xx, 5xx) or `error` when no answer came.',
      labelNames: ['status_class'] as const,
      registers: [registry],
    }),
    attemptDuration: new Histogram({
      name: 'hookline_webhook_attempt_duration_seconds',
      help: 'Time of one delivery attempt, from send to the end of reading the answer.',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
      registers: [registry],
    }),
    endToEnd: new Histogram({
      name: 'hookline_webhook_e2e_latency_seconds',
      help: 'From the event occurring to its successful delivery.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3_600],
      registers: [registry],
    }),
    subscriptionsDisabled: new Counter({
      name: 'hookline_webhook_subscriptions_disabled_total',
      help: 'Subscriptions disabled automatically, by reason (gone: the endpoint answered 410; failing: failed too long).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    ssrfRefusals: new Counter({
      name: 'hookline_webhook_ssrf_refusals_total',
      help: 'Delivery attempts refused by the SSRF guard.',
      registers: [registry],
    }),
    invalidEvents: new Counter({
      name: 'hookline_webhook_invalid_events_total',
      help: 'Kafka messages the fan-out worker could not parse as events (skipped, logged).',
      registers: [registry],
    }),
  };
}

export type WebhookMetrics = ReturnType<typeof createWebhookMetrics>;

/** Queue depth by state, read from Redis at scrape time. */
export function registerQueueGauge(registry: Registry, queue: Queue): Gauge {
  return new Gauge({
    name: 'hookline_webhook_queue_jobs',
    help: 'Delivery jobs in the BullMQ queue, by state.',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
      for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
    },
  });
}
