import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * The transactional outbox: an event row commits in the same transaction as the state change it
 * describes; the relay publishes pending rows to Kafka and marks them published.
 */
export const outbox = pgTable(
  'outbox',
  {
    /** The event id (UUIDv7, time-ordered): the relay publishes in id order. */
    id: uuid('id').primaryKey(),
    topic: text('topic').notNull(),
    messageKey: text('message_key').notNull(),
    eventType: text('event_type').notNull(),
    payload: jsonb('payload').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    publishedAt: timestamp('published_at', { withTimezone: true }),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    /** A relay that claimed the row owns it until then (it sends outside any transaction). */
    claimedUntil: timestamp('claimed_until', { withTimezone: true }),
    /** Set when Kafka refused the row itself (not a broker outage); it is kept, never sent again. */
    deadAt: timestamp('dead_at', { withTimezone: true }),
  },
  (table) => [
    index('outbox_pending').on(table.id).where(sql`${table.publishedAt} IS NULL AND ${table.deadAt} IS NULL`),
    index('outbox_published').on(table.publishedAt).where(sql`${table.publishedAt} IS NOT NULL`),
  ],
);
