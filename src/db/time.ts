import { z } from '@hono/zod-openapi';

/**
 * The instants the API accepts: PostgreSQL and ClickHouse store neither year 0 nor offsets past ±15:59,
 * and nothing hookline records happened before 1970 or after 9999, so every date parameter is bounded
 * here, once, and a date outside the range is a 400 naming the field instead of a database error.
 */
export const TIMESTAMP_MIN = '1970-01-01T00:00:00Z';
export const TIMESTAMP_MAX = '9999-12-31T23:59:59.999Z';
/** The widest UTC offsets in use anywhere (UTC−12:00 … UTC+14:00), rounded to ±14:00. */
const MAX_OFFSET_MINUTES = 14 * 60;

const minMs = Date.parse(TIMESTAMP_MIN);
const maxMs = Date.parse(TIMESTAMP_MAX);

function offsetMinutes(value: string): number {
  const match = /([+-])(\d{2}):(\d{2})$/.exec(value);
  if (!match) return 0; // `Z`
  const [, sign, hours, minutes] = match;
  return (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes));
}

/** True when a valid RFC 3339 date-time (zod checked the calendar) is an instant the API accepts. */
export function isAcceptedInstant(value: string): boolean {
  const ms = Date.parse(value);
  return (
    Number.isFinite(ms) && ms >= minMs && ms <= maxMs && Math.abs(offsetMinutes(value)) <= MAX_OFFSET_MINUTES
  );
}

/** Every date parameter of the API, in a query or a body. */
export const Timestamp = z.iso
  .datetime({ offset: true })
  .refine(
    isAcceptedInstant,
    `must be between ${TIMESTAMP_MIN} and ${TIMESTAMP_MAX}, with an offset within ±14:00`,
  )
  .openapi({
    description: `An RFC 3339 date-time with \`Z\` or an offset within ±14:00, from ${TIMESTAMP_MIN} to ${TIMESTAMP_MAX}.`,
    example: '2026-01-01T00:00:00Z',
  });
