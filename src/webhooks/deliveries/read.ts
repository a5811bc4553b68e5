import type { Sql } from '../../db/client.js';
import type { DeliveryStatus } from '../../db/schema/webhooks.js';
import { AppError } from '../../errors.js';
import { uuidv7Floor } from './delivery-id.js';
import { type Attempt, attemptColumns, type Delivery, deliveryColumns } from './schema.js';

/** Which deliveries: every field given narrows the set (search, replays). */
export interface DeliveryMatch {
  subscriptionId?: string | undefined;
  status?: DeliveryStatus | undefined;
  eventType?: string | undefined;
  /** Of an event at or after (a delivery's time is its event's: the time in its id). */
  from?: string | undefined;
  /** Of an event before. */
  to?: string | undefined;
  /** The event's user. */
  userId?: string | undefined;
  eventId?: string | undefined;
  /** The last attempt's HTTP status. */
  httpStatus?: number | undefined;
}

export interface DeliveryFilter extends DeliveryMatch {
  limit: number;
  /** The last id of the previous page. */
  cursor?: string | undefined;
}

/**
 * The SQL conditions of a match (each `AND …`), for search and replays alike. A time range is a range
 * of ids (their first 48 bits are the event's time), which reads only the partitions it covers.
 */
export function matchSql(sql: Sql, match: DeliveryMatch) {
  const optional = <T>(value: T | undefined, fragment: (value: T) => ReturnType<Sql>) =>
    value === undefined || value === '' ? sql`` : fragment(value);
  return sql`
    ${optional(match.subscriptionId, (v) => sql`AND subscription_id = ${v}`)}
    ${optional(match.status, (v) => sql`AND status = ${v}`)}
    ${optional(match.eventType, (v) => sql`AND event_type = ${v}`)}
    ${optional(match.from, (v) => sql`AND id >= ${uuidv7Floor(Date.parse(v))}::uuid`)}
    ${optional(match.to, (v) => sql`AND id < ${uuidv7Floor(Date.parse(v))}::uuid`)}
    ${optional(match.eventId, (v) => sql`AND event_id = ${v}`)}
    ${optional(match.httpStatus, (v) => sql`AND last_status_code = ${v}`)}
    ${optional(match.userId, (v) => sql`AND event_id IN (SELECT id FROM webhook_events WHERE payload->>'user_id' = ${v})`)}`;
}

/** Deliveries, newest first, a page at a time. */
export async function listDeliveries(deps: { sql: Sql }, filter: DeliveryFilter) {
  const sql = deps.sql;
  const rows = await sql<Delivery[]>`
    SELECT ${deliveryColumns(sql)} FROM webhook_deliveries
    WHERE true ${filter.cursor ? sql`AND id < ${filter.cursor}` : sql``} ${matchSql(sql, filter)}
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
