import { createHash } from 'node:crypto';

/**
 * The id of the delivery of an event to a subscription, the same each time it is made: the event's
 * UUIDv7 time (its first 48 bits), version 7, then 74 bits of SHA-256 of '<event id>:<subscription id>'
 * (with the RFC 9562 variant). It places the delivery in its event's partition, and its primary key
 * is what keeps an event read twice from being delivered twice (docs/adr/0012). SQL makes the same id
 * with webhook_delivery_id (drizzle/0008).
 */
export function deliveryIdOf(eventId: string, subscriptionId: string): string {
  const event = eventId.toLowerCase();
  const hash = createHash('sha256').update(`${event}:${subscriptionId.toLowerCase()}`).digest('hex');
  const variant = (8 | (Number.parseInt(hash.charAt(3), 16) & 3)).toString(16);
  const hex = `${event.replaceAll('-', '').slice(0, 12)}7${hash.slice(0, 3)}${variant}${hash.slice(4, 19)}`;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The lowest UUIDv7 of a time (ms since the epoch): ids are UUIDv7 whose first 48 bits are their
 * event's time, so a time range is a range of the primary key, and of the partitions (the SQL side
 * is webhook_uuid_floor, drizzle/0008).
 */
export function uuidv7Floor(at: number): string {
  const hex = Math.max(0, Math.floor(at)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
}
