import { escapeLike } from '../../db/like.js';
import { filterMatches } from './filters.js';
import { type Subscription, subscriptionColumns } from './schema.js';
import { findSubscription, type SubscriptionDeps, withCircuit } from './store.js';

export async function getSubscription(deps: Pick<SubscriptionDeps, 'sql' | 'flow'>, id: string) {
  return withCircuit(deps, await findSubscription(deps.sql, id));
}

export interface SubscriptionFilter {
  limit: number;
  /** The last id of the previous page. */
  cursor?: string | undefined;
  enabled?: boolean | undefined;
  /** Subscriptions that would receive this type (their filters match it). */
  eventType?: string | undefined;
  /** A substring of the URL, any case. */
  url?: string | undefined;
}

/** Subscriptions, newest first, a page at a time. */
export async function listSubscriptions(
  deps: Pick<SubscriptionDeps, 'sql' | 'flow'>,
  filter: SubscriptionFilter,
) {
  const sql = deps.sql;
  const rows = await sql<Subscription[]>`
    SELECT ${subscriptionColumns(sql)} FROM webhook_subscriptions
    WHERE true
      ${filter.cursor ? sql`AND id < ${filter.cursor}` : sql``}
      ${filter.enabled !== undefined ? sql`AND enabled = ${filter.enabled}` : sql``}
      ${filter.url ? sql`AND url ILIKE ${`%${escapeLike(filter.url)}%`}` : sql``}
    ORDER BY id DESC`;
  const eventType = filter.eventType;
  const matching = eventType
    ? rows.filter((row) => row.eventTypes.some((f) => filterMatches(f, eventType)))
    : rows;
  const page = matching.slice(0, filter.limit);
  return {
    items: await Promise.all(page.map((row) => withCircuit(deps, row))),
    nextCursor: matching.length > filter.limit ? (page.at(-1)?.id ?? null) : null,
  };
}

/**
 * Subscriptions failing now: a failing streak, a breaker not closed, or disabled by the platform
 * (auto-disable, 410), the longest failing first, at most `limit`.
 */
export async function failingSubscriptions(deps: Pick<SubscriptionDeps, 'sql' | 'flow'>, limit = 50) {
  const sql = deps.sql;
  const open = await deps.flow.openCircuits();
  const rows = await sql<Subscription[]>`
    SELECT ${subscriptionColumns(sql)} FROM webhook_subscriptions
    WHERE failing_since IS NOT NULL OR disabled_reason IS NOT NULL OR id = ANY(${open}::uuid[])
    ORDER BY failing_since NULLS LAST, id LIMIT ${limit}`;
  return Promise.all(rows.map((row) => withCircuit(deps, row)));
}
