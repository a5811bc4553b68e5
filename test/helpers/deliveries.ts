import { v7 as uuidv7 } from 'uuid';
import type { Sql } from '../../src/db/client.js';
import { buildEvent, systemActor, systemMeta } from '../../src/events/envelope.js';

/**
 * A stored `webhook.test` event and its delivery to the subscription, with no job queued; with
 * `dueMinutesAgo`, created (so due) that long ago, as a delivery whose job was lost.
 */
export async function insertTestDelivery(
  sql: Sql,
  subscriptionId: string,
  options: { deliveryId?: string; message?: string; dueMinutesAgo?: number } = {},
) {
  const event = buildEvent({
    type: 'webhook.test',
    userId: null,
    actor: systemActor,
    meta: systemMeta,
    data: { subscription_id: subscriptionId, message: options.message ?? 'test delivery' },
  });
  const deliveryId = options.deliveryId ?? uuidv7();
  const minutes = options.dueMinutesAgo ?? 0;
  await sql`INSERT INTO webhook_events (id, type, occurred_at, payload) VALUES (${event.id}, ${event.type}, ${event.occurred_at}, ${sql.json(event as never)})`;
  await sql`INSERT INTO webhook_deliveries (id, event_id, subscription_id, event_type, event_occurred_at, created_at)
    VALUES (${deliveryId}, ${event.id}, ${subscriptionId}, ${event.type}, ${event.occurred_at},
      now() - make_interval(mins => ${minutes}))`;
  return { deliveryId, eventId: event.id, subscriptionId };
}
