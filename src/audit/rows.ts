import type { Envelope } from '../events/catalog.js';

export interface AuditRow {
  event_id: string;
  type: string;
  occurred_at: string;
  occurred_ms: number;
  user_id: string;
  actor_type: string;
  actor_id: string;
  email: string;
  ip: string;
  user_agent: string;
  request_id: string;
  data: string;
  inserted_ms: number;
}

/** An IPv4 address to its /24, an IPv6 address to its /48. */
export function truncateIp(ip: string): string {
  if (ip.includes(':')) {
    const groups = ip.split('::')[0]?.split(':') ?? [];
    return `${groups.slice(0, 3).join(':')}::`;
  }
  const parts = ip.split('.');
  return parts.length === 4 ? `${parts.slice(0, 3).join('.')}.0` : ip;
}

/**
 * ClickHouse's DateTime text form, in UTC, which 18.16 and current releases both parse. The column is
 * `DateTime('UTC')`, so the text is read as UTC whatever the server's time zone.
 */
const dateTime = (iso: string) => iso.slice(0, 19).replace('T', ' ');

/** One audit row per event: typed columns for what is queried, the data as JSON text. */
export function auditRow(event: Envelope, options: { truncateIp: boolean }): AuditRow {
  const data = event.data as Record<string, unknown>;
  const ip = event.ip ?? '';
  return {
    event_id: event.id,
    type: event.type,
    occurred_at: dateTime(event.occurred_at),
    occurred_ms: Date.parse(event.occurred_at),
    user_id: event.user_id ?? '',
    actor_type: event.actor.type,
    actor_id: event.actor.id ?? '',
    email: typeof data.email === 'string' ? data.email : '',
    ip: options.truncateIp && ip ? truncateIp(ip) : ip,
    user_agent: event.user_agent ?? '',
    request_id: event.request_id ?? '',
    data: JSON.stringify(event.data),
    inserted_ms: Date.now(),
  };
}
