import { noSuchSubscription, type SubscriptionDeps } from './store.js';
import { notifySubscriptionsChanged } from './subscription-index.js';

/** Deletes a subscription, its deliveries (the foreign key cascades) and its flow-control keys. */
export async function deleteSubscription(deps: Pick<SubscriptionDeps, 'sql' | 'flow'>, id: string) {
  const deleted = await deps.sql.begin(async (tx) => {
    const result = await tx`DELETE FROM webhook_subscriptions WHERE id = ${id}`;
    await notifySubscriptionsChanged(tx as unknown as SubscriptionDeps['sql']);
    return result.count;
  });
  if (deleted === 0) throw noSuchSubscription();
  await deps.flow.forget(id);
}
