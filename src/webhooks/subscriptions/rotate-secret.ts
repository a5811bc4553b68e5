import { newSigningSecret } from '../delivery/signing.js';
import { type Subscription, subscriptionColumns } from './schema.js';
import { changeSubscription, findSubscription, type SubscriptionDeps, withCircuit } from './store.js';

/** A new secret signs from now on; the old one keeps signing too until the overlap ends. */
export async function rotateSecret(
  deps: Pick<SubscriptionDeps, 'sql' | 'flow' | 'secrets' | 'rules'>,
  id: string,
) {
  await findSubscription(deps.sql, id);
  const secret = newSigningSecret();
  const row = await changeSubscription(deps.sql, async (tx) => {
    const [updated] = await tx<Subscription[]>`
      UPDATE webhook_subscriptions SET
        previous_secret = secret,
        previous_secret_expires_at = now() + make_interval(secs => ${deps.rules.secretOverlapSeconds}),
        secret = ${deps.secrets.seal(secret, id)}, updated_at = now()
      WHERE id = ${id} RETURNING ${subscriptionColumns(tx)}`;
    return updated;
  });
  return { ...(await withCircuit(deps, row)), secret };
}
