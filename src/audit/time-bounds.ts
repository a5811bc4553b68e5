import { chUtcDateTime } from '../clickhouse/sql.js';

/**
 * Time bounds on `audit_events`, in UTC whatever the server's time zone. Each bound tests both columns:
 * `occurred_at` (DateTime('UTC'), seconds) lets ClickHouse skip partitions and parts, `occurred_ms`
 * makes the bound exact to the millisecond.
 */
const ms = (value: number) => Math.max(0, Math.floor(value));

/** Events at or after `at` (epoch milliseconds). */
export const occurredSince = (at: number) =>
  `occurred_at >= ${chUtcDateTime(at)} AND occurred_ms >= ${ms(at)}`;

/** Events before `at` (epoch milliseconds). */
export const occurredBefore = (at: number) =>
  `occurred_at <= ${chUtcDateTime(at)} AND occurred_ms < ${ms(at)}`;
