import { v7 as uuidv7 } from 'uuid';
import { parseInput } from '../../errors.js';
import { newSigningSecret } from '../delivery/signing.js';
import { CreateSubscriptionInput, type Subscription, subscriptionColumns } from './schema.js';
import { changeSubscription, checkRules, type SubscriptionDeps, withCircuit } from './store.js';

/** Subscribes a URL to event types; answers with the new signing secret, the only time it is shown. */
export async function createSubscription(deps: SubscriptionDeps, raw: CreateSubscriptionInput) {
  const input = parseInput(CreateSubscriptionInput, raw);
  checkRules(input, deps.rules);
  const id = uuidv7();
  const secret = newSigningSecret();
  const row = await changeSubscription(deps.sql, async (tx) => {
    const [created] = await tx<Subscription[]>`
      INSERT INTO webhook_subscriptions (id, url, event_types, description, headers, metadata, enabled, secret,
        max_in_flight, rate_limit_per_second)
      VALUES (${id}, ${input.url}, ${input.event_types}, ${input.description ?? null},
        ${tx.json(input.headers ?? {})}, ${tx.json(input.metadata ?? {})}, ${input.enabled ?? true},
        ${deps.secrets.seal(secret, id)}, ${input.max_in_flight ?? deps.rules.defaultMaxInFlight},
        ${input.rate_limit_per_second ?? null})
      RETURNING ${subscriptionColumns(tx)}`;
    return created;
  });
  return { ...(await withCircuit(deps, row)), secret };
}
