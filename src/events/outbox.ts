import { sql } from 'drizzle-orm';
import type { Database, Transaction } from '../db/client.js';
import { outbox } from '../db/schema/index.js';
import { type Envelope, eventCatalog } from './catalog.js';
import { messageKeyOf } from './envelope.js';

export const OUTBOX_CHANNEL = 'hookline_outbox';

/**
 * Writes events to the outbox inside the caller's transaction, so they commit (or roll back) with the
 * state change they describe, and wakes the relays (NOTIFY is delivered only on commit).
 */
export async function enqueueEvents(tx: Transaction | Database, events: readonly Envelope[]): Promise<void> {
  if (events.length === 0) return;
  await tx.insert(outbox).values(
    events.map((event) => ({
      id: event.id,
      topic: eventCatalog[event.type].topic,
      messageKey: messageKeyOf(event),
      eventType: event.type,
      payload: event,
    })),
  );
  await tx.execute(sql`SELECT pg_notify(${OUTBOX_CHANNEL}, '')`);
}
