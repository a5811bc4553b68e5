import type { Sql } from '../../db/client.js';
import { statusSql } from './status.js';

// The time partitions of delivery storage (drizzle/0008, docs/adr/0012): one UTC day of events, their
// deliveries and their attempts per range, created ahead and dropped whole once retention has passed.

/** How far ahead the partitions exist: a day's first event never waits for its partition. */
export const PARTITIONS_AHEAD_MS = 7 * 86_400_000;

/** How long a drop waits for its lock on the parents before it gives up until the next run. */
const DROP_LOCK_TIMEOUT_MS = 5_000;

/** One range's three partitions (the legacy range, from before partitioning, has no lower bound). */
export interface PartitionRange {
  lo: string | null;
  hi: string;
  events: string;
  deliveries: string;
  attempts: string;
}

/** Creates the partitions missing until `upto`; returns the ranges it created. */
export async function ensurePartitions(sql: Sql, upto: Date): Promise<string[]> {
  const rows = await sql<{ range: string }[]>`
    SELECT webhook_partitions_ensure(${upto.toISOString()}::timestamptz) AS range`;
  return rows.map((row) => row.range);
}

/** Every range with its three partitions, oldest first (the legacy range, `lo` null, first). */
export async function partitionRanges(sql: Sql): Promise<PartitionRange[]> {
  return sql<PartitionRange[]>`
    SELECT d.lo, d.hi, e.partition::text AS events, d.partition::text AS deliveries, a.partition::text AS attempts
    FROM webhook_partitions('webhook_deliveries') d
    JOIN webhook_partitions('webhook_events') e ON e.hi = d.hi
    JOIN webhook_partitions('webhook_attempts') a ON a.hi = d.hi
    ORDER BY d.hi`;
}

/** Whether a range still holds a delivery waiting to be sent (the partial index answers). */
export async function holdsWaitingDeliveries(sql: Sql, range: PartitionRange): Promise<boolean> {
  const [row] = await sql<{ waiting: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM ${sql(range.deliveries)} WHERE status IN (${statusSql(sql, 'pending', 'retrying')})) AS waiting`;
  return row?.waiting ?? false;
}

/**
 * Drops a range's three partitions at once (one statement). DROP takes an exclusive lock on each
 * parent for a moment; behind a long query it gives up after DROP_LOCK_TIMEOUT_MS (and is tried again at
 * the next run) rather than make every insert queue behind it.
 */
export async function dropRange(sql: Sql, range: PartitionRange): Promise<void> {
  const tables = [range.attempts, range.deliveries, range.events].map(quoteIdentifier).join(', ');
  // A DO block is one statement in a transaction of its own: SET LOCAL holds for its DROP only.
  await sql.unsafe(
    `DO $$ BEGIN SET LOCAL lock_timeout = ${DROP_LOCK_TIMEOUT_MS}; DROP TABLE IF EXISTS ${tables}; END $$`,
  );
}

const quoteIdentifier = (name: string) => `"${name.replaceAll('"', '""')}"`;
