import { sql } from 'drizzle-orm';
import type { Database, Sql, Transaction } from '../db/client.js';
import { outbox } from '../db/schema/index.js';
import { type Envelope, eventCatalog } from './catalog.js';
import { messageKeyOf } from './envelope.js';

export const OUTBOX_CHANNEL = 'hookline_outbox';

/** The outbox row of an event. */
const outboxRow = (event: Envelope) => ({
  id: event.id,
  topic: eventCatalog[event.type].topic,
  messageKey: messageKeyOf(event),
  eventType: event.type,
  payload: event,
});

/**
 * Writes events to the outbox inside the caller's transaction, so they commit (or roll back) with the
 * state change they describe, and wakes the relays (NOTIFY is delivered only on commit). The one
 * writer of the outbox, for either access style: a drizzle transaction, or postgres.js's (`sql.begin`)
 * on the hot paths.
 */
export async function enqueueEvents(
  tx: Transaction | Database | Sql,
  events: readonly Envelope[],
): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map(outboxRow);
  if (typeof tx !== 'function') {
    await tx.insert(outbox).values(rows);
    await tx.execute(sql`SELECT pg_notify(${OUTBOX_CHANNEL}, '')`);
    return;
  }
  await tx`
    INSERT INTO outbox (id, topic, message_key, event_type, payload)
    SELECT * FROM unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.topic)}::text[],
      ${rows.map((r) => r.messageKey)}::text[], ${rows.map((r) => r.eventType)}::text[],
      ${rows.map((r) => JSON.stringify(r.payload))}::text[]::jsonb[])`;
  await tx`SELECT pg_notify(${OUTBOX_CHANNEL}, '')`;
}
