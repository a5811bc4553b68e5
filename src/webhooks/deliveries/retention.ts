import type { Sql } from '../../db/client.js';
import { withSessionLock } from '../../db/session-lock.js';
import type { Logger } from '../../logger.js';
import { type Component, periodicComponent } from '../../platform/component.js';
import { uuidv7Floor } from './delivery-id.js';
import {
  dropRange,
  ensurePartitions,
  holdsWaitingDeliveries,
  PARTITIONS_AHEAD_MS,
  type PartitionRange,
  partitionRanges,
} from './partitions.js';
import { statusSql } from './status.js';

export interface Pruned {
  /** Ranges whose three partitions were dropped whole. */
  partitions: number;
  /** Rows deleted one chunk at a time: where a range still holds deliveries waiting to be sent, and
   * in the legacy and default partitions, which are not one range of time. */
  deliveries: number;
  events: number;
}

/**
 * Removes what is older than the retention, by the time of its event (a delivery's and an attempt's
 * partition is its event's). A range wholly older is dropped, its three partitions at once, unless it
 * still holds a delivery pending or retrying: those are kept whatever their age, and only its finished
 * rows go, a chunk at a time (so no statement holds locks for long), as do the old rows of the legacy
 * and default partitions.
 */
export async function pruneWebhookData(
  sql: Sql,
  retentionDays: number,
  options: { now?: number; chunk?: number } = {},
): Promise<Pruned> {
  const floor = uuidv7Floor((options.now ?? Date.now()) - retentionDays * 86_400_000);
  const pruned: Pruned = { partitions: 0, deliveries: 0, events: 0 };
  const ranges = await partitionRanges(sql);
  // (UUIDs in canonical form compare as their bytes do)
  const expired = ranges.filter((range) => range.hi <= floor);
  // Where an event's deliveries can be: in its own day's partition (a delivery's id carries its
  // event's time); for the legacy and default partitions, anywhere.
  const piecemeal: (Pick<PartitionRange, 'deliveries' | 'events'> & { referrers: string })[] = [];
  for (const range of expired) {
    if (await holdsWaitingDeliveries(sql, range)) piecemeal.push({ ...range, referrers: range.deliveries });
    else {
      await dropRange(sql, range);
      pruned.partitions += 1;
    }
  }
  // The legacy range until it has expired whole, and the default partitions: not one range of time.
  const legacy = ranges.find((range) => range.lo === null && range.hi > floor);
  if (legacy) piecemeal.push({ ...legacy, referrers: 'webhook_deliveries' });
  piecemeal.push({
    deliveries: 'webhook_deliveries_default',
    events: 'webhook_events_default',
    referrers: 'webhook_deliveries',
  });
  for (const tables of piecemeal) {
    const deleted = await deleteFinished(sql, { ...tables, floor, chunk: options.chunk ?? 5_000 });
    pruned.deliveries += deleted.deliveries;
    pruned.events += deleted.events;
  }
  return pruned;
}

/**
 * Deletes, from one partition of deliveries and its partition of events, the finished deliveries (their
 * attempts go with them, by trigger) and the events no delivery in `referrers` refers to, below `floor`.
 */
async function deleteFinished(
  sql: Sql,
  tables: { deliveries: string; events: string; referrers: string; floor: string; chunk: number },
): Promise<{ deliveries: number; events: number }> {
  const { floor, chunk } = tables;
  let deliveries = 0;
  for (;;) {
    const deleted = await sql`
      DELETE FROM ${sql(tables.deliveries)} WHERE id IN (
        SELECT id FROM ${sql(tables.deliveries)}
        WHERE id < ${floor}::uuid AND status IN (${statusSql(sql, 'succeeded', 'dead')})
        LIMIT ${chunk})`;
    deliveries += deleted.count;
    if (deleted.count < chunk) break;
  }
  let events = 0;
  for (;;) {
    const deleted = await sql`
      DELETE FROM ${sql(tables.events)} WHERE id IN (
        SELECT e.id FROM ${sql(tables.events)} e
        WHERE e.id < ${floor}::uuid AND NOT EXISTS (SELECT 1 FROM ${sql(tables.referrers)} d WHERE d.event_id = e.id)
        LIMIT ${chunk})`;
    events += deleted.count;
    if (deleted.count < chunk) break;
  }
  return { deliveries, events };
}

/** Any fixed number shared by every hookline process: one of them maintains the partitions at a time. */
const MAINTENANCE_LOCK_ID = 7_245_009;

/**
 * Creates the partitions missing until `now` + PARTITIONS_AHEAD_MS, then prunes what retention has
 * passed; null when another process is doing it (it holds the lock), which then does it all.
 */
export async function maintainPartitions(
  sql: Sql,
  retentionDays: number,
  now = Date.now(),
): Promise<{ created: string[]; pruned: Pruned } | null> {
  return withSessionLock(sql, MAINTENANCE_LOCK_ID, { wait: false }, async (session) => {
    const created = await ensurePartitions(session, new Date(now + PARTITIONS_AHEAD_MS));
    const pruned = await pruneWebhookData(session, retentionDays, { now });
    return { created, pruned };
  });
}

/**
 * Every `intervalMs` (and once shortly after start): the partitions of the coming week, and pruning.
 * Every delivery process runs it; one at a time does the work (maintainPartitions).
 */
export function retentionComponent(options: {
  sql: Sql;
  retentionDays: number;
  logger: Logger;
  intervalMs?: number;
}): Component {
  return periodicComponent({
    name: 'webhook-retention',
    intervalMs: options.intervalMs ?? 3_600_000,
    firstRunAfterMs: 10_000,
    logger: options.logger,
    failure: 'maintaining the webhook partitions failed',
    task: async () => {
      const done = await maintainPartitions(options.sql, options.retentionDays);
      if (done && done.created.length > 0)
        options.logger.info({ created: done.created }, 'created webhook storage partitions');
      if (done && done.pruned.partitions + done.pruned.deliveries + done.pruned.events > 0)
        options.logger.info(done.pruned, 'pruned old webhook deliveries and events');
    },
  });
}
