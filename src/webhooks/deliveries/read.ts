import type { Sql } from '../../db/client.js';
import type { DeliveryStatus } from '../../db/schema/webhooks.js';
import { AppError } from '../../errors.js';
import { type Attempt, attemptColumns, type Delivery, deliveryColumns } from './schema.js';

export interface DeliveryFilter {
  limit: number;
  /** The last id of the previous page. */
  cursor?: string | undefined;
  subscriptionId?: string | undefined;
  status?: DeliveryStatus | undefined;
  eventType?: string | undefined;
  /** Created at or after. */
  from?: string | undefined;
  /** Created before. */
  to?: string | undefined;
}

/** Deliveries, newest first, a page at a time. */
export async function listDeliveries(deps: { sql: Sql }, filter: DeliveryFilter) {
  const sql = deps.sql;
  const rows = await sql<Delivery[]>`
    SELECT ${deliveryColumns(sql)} FROM webhook_deliveries
    WHERE true
      ${filter.cursor ? sql`AND id < ${filter.cursor}` : sql``}
      ${filter.subscriptionId ? sql`AND subscription_id = ${filter.subscriptionId}` : sql``}
      ${filter.status ? sql`AND status = ${filter.status}` : sql``}
      ${filter.eventType ? sql`AND event_type = ${filter.eventType}` : sql``}
      ${filter.from ? sql`AND created_at >= ${filter.from}` : sql``}
      ${filter.to ? sql`AND created_at < ${filter.to}` : sql``}
    ORDER BY id DESC LIMIT ${filter.limit + 1}`;
  const items = rows.slice(0, filter.limit);
  return { items, nextCursor: rows.length > filter.limit ? (items.at(-1)?.id ?? null) : null };
}

/** One delivery with every attempt, in order. */
export async function getDelivery(deps: { sql: Sql }, id: string) {
  const sql = deps.sql;
  const [delivery] = await sql<
    Delivery[]
  >`SELECT ${deliveryColumns(sql)} FROM webhook_deliveries WHERE id = ${id}`;
  if (!delivery) throw new AppError('not_found', 'No such delivery.');
  const attempts = await sql<Attempt[]>`
    SELECT ${attemptColumns(sql)} FROM webhook_attempts WHERE delivery_id = ${id} ORDER BY number, started_at`;
  return { delivery, attempts };
}
