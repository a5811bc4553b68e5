import { type Subscription, subscriptionColumns } from './schema.js';
import { changeSubscription, type SubscriptionDeps } from './store.js';

/** Deletes a subscription, its deliveries (the foreign key cascades) and its flow-control keys. */
export async function deleteSubscription(deps: Pick<SubscriptionDeps, 'sql' | 'flow'>, id: string) {
  await changeSubscription(deps.sql, async (tx) => {
    const [deleted] = await tx<Subscription[]>`
      DELETE FROM webhook_subscriptions WHERE id = ${id} RETURNING ${subscriptionColumns(tx)}`;
    return deleted;
  });
  await deps.flow.forget(id);
}
