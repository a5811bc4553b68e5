import { sql } from 'drizzle-orm';
import {
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

export const webhookSubscriptions = pgTable(
  'webhook_subscriptions',
  {
    id: uuid('id').primaryKey(),
    url: text('url').notNull(),
    /** Exact types or wildcards: `user.*`, `user.session.*`, `*`. */
    eventTypes: text('event_types').array().notNull(),
    description: text('description'),
    headers: jsonb('headers').$type<Record<string, string>>().notNull().default({}),
    metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
    enabled: boolean('enabled').notNull().default(true),
    secret: text('secret').notNull(),
    /** After a rotation the previous secret still signs until it expires. */
    previousSecret: text('previous_secret'),
    previousSecretExpiresAt: timestamp('previous_secret_expires_at', { withTimezone: true }),
    disabledReason: text('disabled_reason'),
    disabledAt: timestamp('disabled_at', { withTimezone: true }),
    /** First failure with no success since; null while healthy. */
    failingSince: timestamp('failing_since', { withTimezone: true }),
    lastSuccessAt: timestamp('last_success_at', { withTimezone: true }),
    /** Attempts to this endpoint at once, across every delivery process. */
    maxInFlight: integer('max_in_flight').notNull().default(20),
    /** Attempts started per second at most; null: no limit. */
    rateLimitPerSecond: doublePrecision('rate_limit_per_second'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index('webhook_subscriptions_enabled').on(table.enabled)],
);

// The three tables of delivery storage are partitioned by time (drizzle/0008, docs/adr/0012): each by
// range of a UUIDv7 whose first 48 bits are the event's time (events by id; deliveries by id, made
// from the event's id and the subscription's, see deliveryIdOf; attempts by delivery_id), one day per
// partition, so the three partitions of a day are dropped together when retention has passed them.
// drizzle cannot declare partitioning: these definitions give the columns, keys and indexes.

/** Each event's payload, stored once however many subscriptions it goes to. */
export const webhookEvents = pgTable(
  'webhook_events',
  {
    id: uuid('id').primaryKey(),
    type: text('type').notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    payload: jsonb('payload').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // The deliveries search by the event's user (whom the event is about).
  (table) => [index('webhook_events_user').on(sql`(${table.payload}->>'user_id')`)],
);

/** A delivery's statuses, the one list of them: SQL names them through `statusSql`. */
export const deliveryStatuses = ['pending', 'retrying', 'succeeded', 'dead'] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];
/** The status an attempt leaves its delivery in. */
export type AttemptStatus = Exclude<DeliveryStatus, 'pending'>;
/** The statuses an attempt leaves a delivery in, as metric labels. */
export const attemptStatuses = ['succeeded', 'retrying', 'dead'] as const satisfies readonly AttemptStatus[];
/** Statuses that never change again by themselves (only an operator's retry moves them). */
export type FinalStatus = Extract<DeliveryStatus, 'succeeded' | 'dead'>;

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    /** deliveryIdOf(event_id, subscription_id): one delivery per pair, in its event's partition. */
    id: uuid('id').primaryKey(),
    eventId: uuid('event_id').notNull(),
    subscriptionId: uuid('subscription_id')
      .notNull()
      .references(() => webhookSubscriptions.id, { onDelete: 'cascade' }),
    eventType: text('event_type').notNull(),
    status: text('status').$type<DeliveryStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    /** Bumped by every manual retry or recovery: jobs of an older generation are stale and dropped. */
    generation: integer('generation').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    eventOccurredAt: timestamp('event_occurred_at', { withTimezone: true }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
  },
  (table) => [
    index('webhook_deliveries_event').on(table.eventId, table.subscriptionId),
    index('webhook_deliveries_subscription').on(table.subscriptionId, table.id),
    index('webhook_deliveries_status').on(table.status, table.id),
    index('webhook_deliveries_dead')
      .on(table.subscriptionId, table.updatedAt)
      .where(sql`${table.status} = 'dead'`),
    index('webhook_deliveries_active').on(table.id).where(sql`${table.status} IN ('pending', 'retrying')`),
  ],
);

export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: uuid('id').notNull(),
    /** Its delivery's id, which places it in its delivery's partition (deleted with it by a trigger). */
    deliveryId: uuid('delivery_id').notNull(),
    number: integer('number').notNull(),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
    durationMs: integer('duration_ms').notNull(),
    statusCode: integer('status_code'),
    /** For attempts without an HTTP answer: timeout, dns, connect, tls, ssrf_blocked, ... */
    errorKind: text('error_kind'),
    errorMessage: text('error_message'),
    responseExcerpt: text('response_excerpt'),
  },
  (table) => [
    primaryKey({ columns: [table.deliveryId, table.id] }),
    index('webhook_attempts_delivery').on(table.deliveryId, table.number),
  ],
);

/** A bulk replay's states, the one list of them. */
export const replayStates = ['running', 'done', 'failed'] as const;
export type ReplayState = (typeof replayStates)[number];

/**
 * Bulk replays by filter: a tracked job that queues the matching deliveries again, a batch at a time,
 * with its progress (`cursor`, `requeued`) committed with each batch, so a restart resumes it.
 */
export const webhookReplays = pgTable(
  'webhook_replays',
  {
    id: uuid('id').primaryKey(),
    /** The filter as given (public field names), and its canonical text: one running replay per filter. */
    filter: jsonb('filter').$type<Record<string, string | number>>().notNull(),
    filterKey: text('filter_key').notNull(),
    /** The delivery queue of the platform that started it: only that platform's processes run it. */
    queue: text('queue').notNull(),
    state: text('state').$type<ReplayState>().notNull().default('running'),
    /** The deliveries the filter matched when the replay started. */
    total: integer('total').notNull(),
    requeued: integer('requeued').notNull().default(0),
    /** The last delivery id handled (the replay goes in id order). */
    cursor: uuid('cursor'),
    createdBy: text('created_by').notNull(),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (table) => [
    uniqueIndex('webhook_replays_running_filter')
      .on(table.queue, table.filterKey)
      .where(sql`${table.state} = 'running'`),
  ],
);
