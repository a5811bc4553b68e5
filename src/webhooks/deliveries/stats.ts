import type { Sql } from '../../db/client.js';
import { type DeliveryStatus, deliveryStatuses } from '../../db/schema/webhooks.js';
import { uuidv7Floor } from './delivery-id.js';
import { statusSql } from './status.js';

/** Deliveries of the events of one minute, by their status now. */
export interface MinuteCounts {
  minute: string;
  counts: Record<DeliveryStatus, number>;
}

export interface WindowFigures {
  /** Deliveries of the window's events. */
  deliveries: number;
  /** Of those with an outcome (succeeded or dead), the share that succeeded; null when none has one. */
  successRatio: number | null;
  /** The 95th percentile from the event to its successful delivery, in ms; null when none succeeded. */
  endToEndP95Ms: number | null;
}

/**
 * Deliveries of the events of each of the last `minutes` minutes, by status now (oldest minute
 * first). A delivery's time is its event's, the time in its id: the range of ids the query reads.
 */
export async function deliveriesPerMinute(
  deps: { sql: Sql },
  minutes: number,
  now = Date.now(),
): Promise<MinuteCounts[]> {
  const since = Math.floor(now / 60_000) * 60_000 - (minutes - 1) * 60_000;
  const rows = await deps.sql<{ minute: Date; status: DeliveryStatus; n: number }[]>`
    SELECT date_trunc('minute', webhook_uuid_time(id)) AS minute, status, count(*)::int AS n
    FROM webhook_deliveries WHERE id >= ${uuidv7Floor(since)}::uuid
    GROUP BY 1, 2`;
  const empty = () =>
    Object.fromEntries(deliveryStatuses.map((s) => [s, 0])) as Record<DeliveryStatus, number>;
  const out = Array.from({ length: minutes }, (_, i) => ({
    minute: new Date(since + i * 60_000).toISOString(),
    counts: empty(),
  }));
  for (const row of rows) {
    const slot = out[Math.floor((row.minute.getTime() - since) / 60_000)];
    if (slot) slot.counts[row.status] += row.n;
  }
  return out;
}

/** Volume, success ratio and end-to-end p95 of the deliveries of the last `ms`'s events. */
export async function windowFigures(
  deps: { sql: Sql },
  ms: number,
  now = Date.now(),
): Promise<WindowFigures> {
  const sql = deps.sql;
  const [row] = await sql<{ total: number; succeeded: number; dead: number; p95: number | null }[]>`
    SELECT count(*)::int AS total,
      count(*) FILTER (WHERE status = ${statusSql(sql, 'succeeded')})::int AS succeeded,
      count(*) FILTER (WHERE status = ${statusSql(sql, 'dead')})::int AS dead,
      percentile_cont(0.95) WITHIN GROUP (
        ORDER BY extract(epoch FROM delivered_at - event_occurred_at) * 1000
      ) FILTER (WHERE delivered_at IS NOT NULL) AS p95
    FROM webhook_deliveries WHERE id >= ${uuidv7Floor(now - ms)}::uuid`;
  const ended = (row?.succeeded ?? 0) + (row?.dead ?? 0);
  return {
    deliveries: row?.total ?? 0,
    successRatio: ended > 0 ? (row?.succeeded ?? 0) / ended : null,
    endToEndP95Ms: row?.p95 === null || row?.p95 === undefined ? null : Math.round(row.p95),
  };
}

/** Dead deliveries waiting for an operator (all of them, whatever their age). */
export async function deadLetterCount(deps: { sql: Sql }): Promise<number> {
  const [row] = await deps.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = ${statusSql(deps.sql, 'dead')}`;
  return row?.n ?? 0;
}
