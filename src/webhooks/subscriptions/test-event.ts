import type { Actor } from '../../events/catalog.js';
import { buildEvent, systemMeta } from '../../events/envelope.js';
import { deliveryIdOf } from '../deliveries/delivery-id.js';
import { enqueueDeliveries } from '../queue/enqueue.js';
import { findSubscription, type SubscriptionDeps } from './store.js';

/** Sends a `webhook.test` event to this one subscription now (it skips Kafka and fan-out). */
export async function sendTestEvent(
  deps: Pick<SubscriptionDeps, 'sql' | 'queue' | 'flow' | 'retries'>,
  id: string,
  actor: Actor,
) {
  const row = await findSubscription(deps.sql, id);
  const event = buildEvent({
    type: 'webhook.test',
    userId: null,
    actor,
    meta: systemMeta,
    data: { subscription_id: id, message: 'This is a test event from hookline.' },
  });
  const deliveryId = deliveryIdOf(event.id, id);
  await deps.sql.begin(async (tx) => {
    await tx`INSERT INTO webhook_events (id, type, occurred_at, payload) VALUES (${event.id}, ${event.type}, ${event.occurred_at}, ${tx.json(event as never)})`;
    await tx`
      INSERT INTO webhook_deliveries (id, event_id, subscription_id, event_type, event_occurred_at)
      VALUES (${deliveryId}, ${event.id}, ${id}, ${event.type}, ${event.occurred_at})`;
  });
  await enqueueDeliveries(deps, [
    { deliveryId, generation: 0, subscriptionId: id, maxInFlight: row.maxInFlight },
  ]);
  return { eventId: event.id, deliveryId };
}
