import { sql } from 'drizzle-orm';
import type { Database, Sql, Transaction } from '../db/client.js';
import { outbox } from '../db/schema/index.js';
import { type Envelope, eventCatalog } from './catalog.js';
import { messageKeyOf } from './envelope.js';

export const OUTBOX_CHANNEL = 'hookline_outbox';

/** The outbox row of an event (both writers below use it). */
const outboxRow = (event: Envelope) => ({
  id: event.id,
  topic: eventCatalog[event.type].topic,
  messageKey: messageKeyOf(event),
  eventType: event.type,
  payload: event,
});

/**
 * Writes events to the outbox inside the caller's transaction, so they commit (or roll back) with the
 * state change they describe, and wakes the relays (NOTIFY is delivered only on commit).
 */
export async function enqueueEvents(tx: Transaction | Database, events: readonly Envelope[]): Promise<void> {
  if (events.length === 0) return;
  await tx.insert(outbox).values(events.map(outboxRow));
  await tx.execute(sql`SELECT pg_notify(${OUTBOX_CHANNEL}, '')`);
}

/** The same as `enqueueEvents`, for code that works with postgres.js directly (inside `sql.begin`). */
export async function enqueueEventsSql(tx: Sql, events: readonly Envelope[]): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map(outboxRow);
  await tx`
    INSERT INTO outbox (id, topic, message_key, event_type, payload)
    SELECT * FROM unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.topic)}::text[],
      ${rows.map((r) => r.messageKey)}::text[], ${rows.map((r) => r.eventType)}::text[],
      ${rows.map((r) => JSON.stringify(r.payload))}::text[]::jsonb[])`;
  await tx`SELECT pg_notify(${OUTBOX_CHANNEL}, '')`;
}
