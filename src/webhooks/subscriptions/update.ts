import { parseInput } from '../../errors.js';
import { type Subscription, subscriptionColumns, UpdateSubscriptionInput } from './schema.js';
import {
  changeSubscription,
  checkRules,
  findSubscription,
  type SubscriptionDeps,
  withCircuit,
} from './store.js';

/**
 * Changes the fields given and leaves the others. Enabling a subscription clears why and since when it
 * was disabled, and its failing streak: it starts afresh.
 */
export async function updateSubscription(
  deps: Pick<SubscriptionDeps, 'sql' | 'flow' | 'rules'>,
  id: string,
  raw: UpdateSubscriptionInput,
) {
  const input = parseInput(UpdateSubscriptionInput, raw);
  checkRules(input, deps.rules);
  const current = await findSubscription(deps.sql, id);
  const next = { ...current, ...changesOf(input, current) };
  const row = await changeSubscription(deps.sql, async (tx) => {
    const [updated] = await tx<Subscription[]>`
      UPDATE webhook_subscriptions SET
        url = ${next.url}, event_types = ${next.eventTypes}, description = ${next.description},
        headers = ${tx.json(next.headers)}, metadata = ${tx.json(next.metadata)}, enabled = ${next.enabled},
        disabled_reason = ${next.disabledReason}, disabled_at = ${next.disabledAt},
        failing_since = ${next.failingSince}, max_in_flight = ${next.maxInFlight},
        rate_limit_per_second = ${next.rateLimitPerSecond}, updated_at = now()
      WHERE id = ${id} RETURNING ${subscriptionColumns(tx)}`;
    return updated;
  });
  return withCircuit(deps, row);
}

/** The fields `input` changes, as the row's properties (an absent field is no change). */
function changesOf(input: UpdateSubscriptionInput, current: Subscription): Partial<Subscription> {
  const given = <T>(value: T | undefined, fallback: T) => (value === undefined ? fallback : value);
  const enabling = input.enabled === true;
  return {
    url: given(input.url, current.url),
    eventTypes: given(input.event_types, current.eventTypes),
    description: given(input.description, current.description),
    headers: given(input.headers, current.headers),
    metadata: given(input.metadata, current.metadata),
    enabled: given(input.enabled, current.enabled),
    disabledReason: enabling ? null : current.disabledReason,
    disabledAt: enabling ? null : current.disabledAt,
    failingSince: enabling ? null : current.failingSince,
    maxInFlight: given(input.max_in_flight, current.maxInFlight),
    rateLimitPerSecond: given(input.rate_limit_per_second, current.rateLimitPerSecond),
  };
}
