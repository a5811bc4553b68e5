import type { Queue } from 'bullmq';
import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import type { Sql } from '../../db/client.js';
import type { Envelope } from '../../events/catalog.js';
import { eventConsumer } from '../../events/consume.js';
import type { Logger } from '../../logger.js';
import type { Component } from '../../platform/component.js';
import { deliveryIdOf } from '../deliveries/delivery-id.js';
import type { Delivery } from '../deliveries/schema.js';
import type { FlowControl } from '../flow/flow-control.js';
import type { WebhookMetrics } from '../metrics.js';
import { enqueueDeliveries } from '../queue/enqueue.js';
import type { SubscriptionIndex } from '../subscriptions/subscription-index.js';

export interface FanoutDeps {
  sql: Sql;
  queue: Queue;
  flow: FlowControl;
  index: SubscriptionIndex;
  metrics: WebhookMetrics;
  logger: Logger;
  retries: number;
}

/**
 * Turns events into deliveries: for each event, the enabled subscriptions whose filters match and
 * that existed when it occurred; the event's payload is stored once (webhook_events), one delivery
 * row per (event, subscription) with a unique key, so a re-read event creates no duplicate; then one
 * BullMQ job per delivery that was never attempted, in bulk, with the delivery id as job id (a job
 * that exists is not added again).
 * That last rule also re-enqueues the deliveries of a batch whose rows were committed but whose jobs
 * were lost to a crash. Returns the number of deliveries created.
 */
export async function fanOut(deps: FanoutDeps, events: readonly Envelope[]): Promise<number> {
  // An event read twice in one batch (a producer's retry) is fanned out once: one statement may not
  // touch the same row twice.
  const pairs: Pair[] = [];
  const matched: Envelope[] = [];
  for (const event of new Map(events.map((e) => [e.id, e])).values()) {
    const subs = deps.index.match(event.type, Date.parse(event.occurred_at));
    if (subs.length > 0) matched.push(event);
    for (const sub of subs) pairs.push({ event, subscriptionId: sub.id });
  }
  if (pairs.length === 0) return 0;

  const { created, jobs } = await deps.sql.begin(async (tx) => {
    // The two statements are pipelined (sent together, run in order; see Promise.all below). The
    // process's sessions never scan a whole table (HOT_PATH_PROCESSES, src/platform/dependencies.ts).
    const payloads = tx`
      INSERT INTO webhook_events (id, type, occurred_at, payload)
      SELECT * FROM unnest(${matched.map((e) => e.id)}::uuid[], ${matched.map((e) => e.type)}::text[],
        ${matched.map((e) => e.occurred_at)}::timestamptz[], ${matched.map((e) => JSON.stringify(e))}::text[]::jsonb[])
      ON CONFLICT (id) DO NOTHING`;
    const ids = pairs.map((p) => deliveryIdOf(p.event.id, p.subscriptionId));
    // postgres.js sends a query when it is awaited: in this array's order.
    const [, inserted] = await Promise.all([payloads, insertDeliveries(tx as unknown as Sql, pairs, ids)]);
    // A batch read again after a crash: the pairs already stored come back as they are now, so that
    // those never attempted are enqueued again. (Only then: a batch read once costs one statement.)
    const rows =
      inserted.length < pairs.length
        ? [...inserted, ...(await storedDeliveries(tx as unknown as Sql, ids, inserted))]
        : inserted;
    return {
      created: inserted.length,
      // Jobs for every delivery never attempted: new ones, and those whose jobs a crash may have lost.
      jobs: rows
        .filter((row) => row.status === 'pending' && row.attempts === 0)
        .map((row) => ({
          deliveryId: row.id,
          generation: row.generation,
          subscriptionId: row.subscription_id,
          maxInFlight: deps.index.get(row.subscription_id)?.maxInFlight ?? 1,
        })),
    };
  });
  await enqueueDeliveries(deps, jobs);
  deps.metrics.deliveriesCreated.inc(created);
  return created;
}

type Pair = { event: Envelope; subscriptionId: string };

type StoredDelivery = Pick<Delivery, 'id' | 'generation' | 'status' | 'attempts'> & {
  subscription_id: string;
};

/**
 * The statement storing a batch's deliveries, unsent (postgres.js sends it when awaited); it returns
 * the rows it inserted. A pair's id is made from it (deliveryIdOf), so the primary key is what skips
 * a pair already stored; an event fanned out before the storage was partitioned is skipped by the old
 * unique index of the legacy partition (its delivery there has another id, and a re-read does not
 * enqueue it: the sweeper does if it was lost).
 */
function insertDeliveries(tx: Sql, pairs: readonly Pair[], ids: readonly string[]) {
  return tx<StoredDelivery[]>`
    INSERT INTO webhook_deliveries (id, event_id, subscription_id, event_type, event_occurred_at)
    SELECT * FROM unnest(${ids}::uuid[], ${pairs.map((p) => p.event.id)}::uuid[],
      ${pairs.map((p) => p.subscriptionId)}::uuid[], ${pairs.map((p) => p.event.type)}::text[],
      ${pairs.map((p) => p.event.occurred_at)}::timestamptz[])
    ON CONFLICT DO NOTHING
    RETURNING id, generation, status, attempts, subscription_id`;
}

/** The deliveries of these ids that were there before this batch (those it did not insert). */
function storedDeliveries(tx: Sql, ids: readonly string[], inserted: readonly StoredDelivery[]) {
  const fresh = new Set(inserted.map((row) => row.id));
  return tx<StoredDelivery[]>`
    SELECT id, generation, status, attempts, subscription_id FROM webhook_deliveries
    WHERE id = ANY(${ids.filter((id) => !fresh.has(id))}::uuid[])`;
}

const CHUNK = 500;
/** Partition batches fanned out at once (each a PostgreSQL transaction, then an enqueue). */
const FANOUT_PARTITIONS_AT_ONCE = 4;

/**
 * The fan-out worker: a kafkajs consumer group on the event topics, `eachBatch`, committing a
 * message's offset only after its deliveries are durable (rows committed and jobs in Redis). A message
 * that is not a valid event is logged, counted and skipped rather than blocking its partition.
 */
export class FanoutWorker implements Component {
  readonly name = 'fanout';
  private readonly consumer: ReturnType<typeof eventConsumer>;

  constructor(
    kafka: Kafka,
    deps: FanoutDeps & { groupId: string; topics: readonly string[]; registry: Registry },
  ) {
    this.consumer = eventConsumer({
      kafka,
      groupId: deps.groupId,
      topics: deps.topics,
      consumer: {
        // A member that dies is replaced after this long: short, so a crashed worker's partitions move fast.
        sessionTimeout: 10_000,
        heartbeatInterval: 3_000,
        maxBytesPerPartition: 2 * 1024 * 1024,
        allowAutoTopicCreation: false,
      },
      // Partitions are fanned out side by side (each in its order): one partition's batch waiting on
      // PostgreSQL does not hold the others' events back.
      partitionsAtOnce: FANOUT_PARTITIONS_AT_ONCE,
      chunkSize: CHUNK,
      handle: async ({ topic, events, messages }) => {
        await fanOut(deps, events);
        deps.metrics.eventsConsumed.inc({ topic }, messages);
      },
      onInvalid: () => deps.metrics.invalidEvents.inc(),
      logger: deps.logger,
      name: 'fan-out',
      registry: deps.registry,
    });
  }

  /** (The subscription index is a component of the process, started before this one.) */
  async start(): Promise<void> {
    await this.consumer.start();
  }

  async stop(): Promise<void> {
    await this.consumer.stop();
  }
}
