import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Sql } from '../db/client.js';
import { attemptStatuses, type DeliveryStatus } from '../db/schema/webhooks.js';
import { allTopics } from '../events/topics.js';
import { zeroed } from '../metrics/labels.js';
import { metricNames } from '../metrics/names.js';
import { sampled } from '../metrics/sampled.js';
import { statusSql } from './deliveries/status.js';

/** The webhook metrics of a process, registered once by its entry (src/webhooks/context.ts). */
export function createWebhookMetrics(registry: Registry) {
  return { ...fanoutMetrics(registry), ...attemptMetrics(registry), ...healthMetrics(registry) };
}

/** The fan-out's: events read, deliveries made, messages skipped. */
function fanoutMetrics(registry: Registry) {
  return {
    eventsConsumed: zeroed(
      new Counter({
        name: metricNames.webhookEventsConsumed,
        help: 'Events read by the fan-out worker, by topic.',
        labelNames: ['topic'] as const,
        registers: [registry],
      }),
      'topic',
      allTopics,
    ),
    deliveriesCreated: new Counter({
      name: metricNames.webhookDeliveriesCreated,
      help: 'Deliveries created by fan-out (one per matching event and subscription).',
      registers: [registry],
    }),
    invalidEvents: new Counter({
      name: metricNames.webhookInvalidEvents,
      help: 'Kafka messages the fan-out worker could not parse as events (skipped, logged).',
      registers: [registry],
    }),
  };
}

/** The attempts': outcomes, answer classes, timings, refusals. */
function attemptMetrics(registry: Registry) {
  return {
    deliveries: zeroed(
      new Counter({
        name: metricNames.webhookDeliveries,
        help: 'Delivery attempts by outcome: succeeded, retrying (will be retried) or dead (no attempt left, or disabled).',
        labelNames: ['outcome'] as const,
        registers: [registry],
      }),
      'outcome',
      attemptStatuses,
    ),
    attempts: zeroed(
      new Counter({
        name: metricNames.webhookAttempts,
        help: 'Delivery attempts by answer class (2xx, 3xx, 4xx, 5xx) or `error` when no answer came.',
        labelNames: ['status_class'] as const,
        registers: [registry],
      }),
      'status_class',
      ['2xx', '3xx', '4xx', '5xx', 'error'],
    ),
    attemptDuration: new Histogram({
      name: metricNames.webhookAttemptDuration,
      help: 'Time of one delivery attempt, from send to the end of reading the answer.',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
      registers: [registry],
    }),
    endToEnd: new Histogram({
      name: metricNames.webhookE2eLatency,
      help: 'From the event occurring to its successful delivery.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3_600],
      registers: [registry],
    }),
    attemptsRefused: new Counter({
      name: metricNames.webhookAttemptsRefused,
      help: 'Attempts the database refused as received (stored without the receiver’s text instead).',
      registers: [registry],
    }),
    ssrfRefusals: new Counter({
      name: metricNames.webhookSsrfRefusals,
      help: 'Delivery attempts refused by the SSRF guard.',
      registers: [registry],
    }),
  };
}

/** The endpoints' health as flow control and the recorder see it. */
function healthMetrics(registry: Registry) {
  return {
    subscriptionsDisabled: zeroed(
      new Counter({
        name: metricNames.webhookSubscriptionsDisabled,
        help: 'Subscriptions disabled automatically, by reason (gone: the endpoint answered 410; failing: failed too long).',
        labelNames: ['reason'] as const,
        registers: [registry],
      }),
      'reason',
      ['gone', 'failing'],
    ),
    duplicateSends: zeroed(
      new Counter({
        name: metricNames.webhookDuplicateSends,
        help: 'Deliveries sent again after an earlier attempt may have reached the receiver unrecorded: its record failed (unrecorded) or its job stalled mid-attempt (stalled).',
        labelNames: ['reason'] as const,
        registers: [registry],
      }),
      'reason',
      ['unrecorded', 'stalled'],
    ),
    deferred: zeroed(
      new Counter({
        name: metricNames.webhookDeferred,
        help: 'Deliveries deferred by their subscription’s flow control, not attempted and no retry used: at max_in_flight (in_flight), over rate_limit_per_second (rate), or breaker open (breaker).',
        labelNames: ['reason'] as const,
        registers: [registry],
      }),
      'reason',
      ['in_flight', 'rate', 'breaker'],
    ),
    circuitTransitions: zeroed(
      new Counter({
        name: metricNames.webhookCircuitTransitions,
        help: 'Circuit breaker transitions: opened (failures in a row), reopened (a probe failed), closed (an attempt succeeded).',
        labelNames: ['transition'] as const,
        registers: [registry],
      }),
      'transition',
      ['opened', 'reopened', 'closed'],
    ),
  };
}

export type WebhookMetrics = ReturnType<typeof createWebhookMetrics>;

/** Queue depth by state, read from Redis (in the background, at most every 2 s). */
export function registerQueueGauge(registry: Registry, queue: Queue): Gauge {
  const counts = sampled(() => queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized'), {
    maxAgeMs: 2_000,
  });
  return new Gauge({
    name: metricNames.webhookQueueJobs,
    help: 'Delivery jobs in the BullMQ queue, by state (waiting, active, delayed, failed, prioritized).',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      for (const [state, count] of Object.entries((await counts()) ?? {})) this.set({ state }, count);
    },
  });
}

/**
 * `hookline_webhook_indexed_subscriptions`: the subscriptions a process's index holds, as of its
 * last reload (each process follows changes through NOTIFY; one that differs from the table's count
 * missed a change).
 */
export function registerIndexGauge(registry: Registry, index: { size: number }): Gauge {
  return new Gauge({
    name: metricNames.webhookIndexedSubscriptions,
    help: 'Subscriptions held by the subscription index of this process, as of its last reload.',
    registers: [registry],
    collect() {
      this.set(index.size);
    },
  });
}

/** The breaker's state as a gauge value. */
export const circuitStateValue = { closed: 0, half_open: 1, open: 2 } as const;

/**
 * Breakers not closed, from Redis (in the background, at most every 5 s):
 * `hookline_webhook_circuits_open` counts them, and `hookline_webhook_subscription_circuit_state`
 * gives the state (1 half-open, 2 open) of the ten open the longest, so cardinality stays bounded.
 */
export function registerCircuitGauges(
  registry: Registry,
  read: () => Promise<{
    count: number;
    top: { subscriptionId: string; state: keyof typeof circuitStateValue }[];
  }>,
): void {
  const circuits = sampled(read, { maxAgeMs: 5_000 });
  new Gauge({
    name: metricNames.webhookCircuitsOpen,
    help: 'Subscriptions whose circuit breaker is open or half-open.',
    registers: [registry],
    async collect() {
      const value = await circuits();
      if (value) this.set(value.count);
    },
  });
  new Gauge({
    name: metricNames.webhookSubscriptionCircuitState,
    help: `Circuit breaker state (1 half-open, 2 open) of the ${TOP_FAILING_SUBSCRIPTIONS} subscriptions open the longest.`,
    labelNames: ['subscription_id'] as const,
    registers: [registry],
    async collect() {
      const value = await circuits();
      if (!value) return;
      this.reset();
      for (const { subscriptionId, state } of value.top) {
        this.set({ subscription_id: subscriptionId }, circuitStateValue[state]);
      }
    },
  });
}

/** How many subscriptions get their own series in `hookline_webhook_subscription_failing_deliveries`. */
export const TOP_FAILING_SUBSCRIPTIONS = 10;

/**
 * Deliveries failing now, from PostgreSQL (in the background, at most every 10 s):
 * `hookline_webhook_failing_deliveries{status}` counts every delivery waiting for a retry or dead, and
 * `hookline_webhook_subscription_failing_deliveries{subscription_id,status}` the same for the
 * subscriptions with the most of them only, so the label's cardinality stays bounded however many
 * subscriptions there are. Every delivery process reports the same numbers: aggregate with `max`.
 */
const failingStatuses = ['retrying', 'dead'] as const satisfies readonly DeliveryStatus[];
type FailingStatus = (typeof failingStatuses)[number];

export function registerFailingDeliveryGauges(registry: Registry, sql: Sql): void {
  const failing = sampled(
    () => sql<{ subscription_id: string; status: FailingStatus; n: number }[]>`
      SELECT subscription_id, status, count(*)::int AS n FROM webhook_deliveries
      WHERE status IN (${statusSql(sql, ...failingStatuses)}) GROUP BY subscription_id, status`,
    { maxAgeMs: 10_000 },
  );
  new Gauge({
    name: metricNames.webhookFailingDeliveries,
    help: 'Deliveries waiting for a retry (retrying) or that ran out of attempts (dead, until recovered or pruned).',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const rows = await failing();
      if (!rows) return;
      for (const status of failingStatuses) {
        this.set(
          { status },
          rows.reduce((sum, row) => (row.status === status ? sum + row.n : sum), 0),
        );
      }
    },
  });
  new Gauge({
    name: metricNames.webhookSubscriptionFailingDeliveries,
    help: `Failing deliveries (retrying, dead) of the ${TOP_FAILING_SUBSCRIPTIONS} subscriptions with the most of them.`,
    labelNames: ['subscription_id', 'status'] as const,
    registers: [registry],
    async collect() {
      const rows = await failing();
      if (!rows) return;
      const bySubscription = new Map<string, number>();
      for (const row of rows) {
        bySubscription.set(row.subscription_id, (bySubscription.get(row.subscription_id) ?? 0) + row.n);
      }
      const top = [...bySubscription]
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .slice(0, TOP_FAILING_SUBSCRIPTIONS);
      // Subscriptions that left the top (or stopped failing) lose their series.
      this.reset();
      for (const [subscriptionId] of top) {
        for (const status of failingStatuses) {
          const row = rows.find((r) => r.subscription_id === subscriptionId && r.status === status);
          this.set({ subscription_id: subscriptionId, status }, row?.n ?? 0);
        }
      }
    },
  });
}
