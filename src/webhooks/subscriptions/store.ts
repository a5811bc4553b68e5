import type { Queue } from 'bullmq';
import type { Sql } from '../../db/client.js';
import { AppError, validationError } from '../../errors.js';
import type { FlowControl } from '../flow/flow-control.js';
import { type SubscriptionRules, subscriptionProblems } from './rules.js';
import {
  type Subscription,
  type SubscriptionState,
  subscriptionColumns,
  type UpdateSubscriptionInput,
} from './schema.js';
import type { SecretBox } from './secret-box.js';
import { notifySubscriptionsChanged } from './subscription-index.js';

/** What the subscription verbs need: narrow, built once per process (src/webhooks/context.ts). */
export interface SubscriptionDeps {
  sql: Sql;
  /** Seals the signing secrets (WEBHOOK_SECRETS_KEYS). */
  secrets: SecretBox;
  /** The breakers (shown with each subscription), the lines (forgotten with one), admission. */
  flow: FlowControl;
  /** The delivery queue, for the test event's job. */
  queue: Queue;
  /** Retries of a delivery job (the schedule's length). */
  retries: number;
  rules: SubscriptionRules;
}

export const noSuchSubscription = () => new AppError('not_found', 'No such subscription.');

export async function findSubscription(sql: Sql, id: string): Promise<Subscription> {
  const [row] = await sql<Subscription[]>`
    SELECT ${subscriptionColumns(sql)} FROM webhook_subscriptions WHERE id = ${id}`;
  if (!row) throw noSuchSubscription();
  return row;
}

/** The subscription with its breaker as Redis has it. */
export async function withCircuit(deps: Pick<SubscriptionDeps, 'flow'>, subscription: Subscription) {
  return { subscription, circuit: await deps.flow.circuit(subscription.id) } satisfies SubscriptionState;
}

/** Refuses input that breaks a subscription rule (a validation error naming each field). */
export function checkRules(input: UpdateSubscriptionInput, rules: SubscriptionRules): void {
  const problems = subscriptionProblems(input, rules);
  if (problems.length > 0) throw validationError(problems);
}

/**
 * Runs `change` in a transaction that tells every process's subscription index on commit; the row it
 * returns, or not_found when it returns none.
 */
export async function changeSubscription(
  sql: Sql,
  change: (tx: Sql) => Promise<Subscription | undefined>,
): Promise<Subscription> {
  const row = await sql.begin(async (tx) => {
    const changed = await change(tx as unknown as Sql);
    await notifySubscriptionsChanged(tx as unknown as Sql);
    return changed;
  });
  if (!row) throw noSuchSubscription();
  return row;
}
