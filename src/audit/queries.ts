import type { ClickHouseClient } from '../clickhouse/client.js';
import { chLiteral } from '../clickhouse/sql.js';
import { AppError } from '../errors.js';
import { occurredBefore, occurredSince } from './time-bounds.js';

/**
 * Reads of the audit log. ClickHouse 18.16 has no query parameters, so every value is validated by
 * the route's schema first and then written as an escaped literal. `FINAL` makes each event appear
 * once even before ReplacingMergeTree has merged its redelivered copies. Every time is UTC, whatever
 * the server's time zone: `occurred_at` is `DateTime('UTC')` and bounds are UTC literals.
 */
/** ClickHouse down or the audit schema not made yet (no audit worker has run): 503, not 500. */
async function read<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError('unavailable', 'The audit log cannot be read right now; try again later.', {
      cause: error,
    });
  }
}

export interface AuditEventView {
  id: string;
  type: string;
  occurred_at: string;
  user_id: string | null;
  actor: { type: string; id: string | null };
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  data: unknown;
}

interface Row {
  event_id: string;
  type: string;
  occurred_ms: string | number;
  user_id: string;
  actor_type: string;
  actor_id: string;
  ip: string;
  user_agent: string;
  request_id: string;
  data: string;
}

const view = (row: Row): AuditEventView => ({
  id: row.event_id,
  type: row.type,
  occurred_at: new Date(Number(row.occurred_ms)).toISOString(),
  user_id: row.user_id || null,
  actor: { type: row.actor_type, id: row.actor_id || null },
  ip: row.ip || null,
  user_agent: row.user_agent || null,
  request_id: row.request_id || null,
  data: JSON.parse(row.data) as unknown,
});

const encodeCursor = (row: Row) => Buffer.from(`${row.occurred_ms}:${row.event_id}`).toString('base64url');
function decodeCursor(cursor: string): { ms: number; id: string } {
  const [ms, id] = Buffer.from(cursor, 'base64url').toString('utf8').split(':');
  if (!ms || !id || !/^\d+$/.test(ms) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new AppError('validation_failed', 'The cursor is not one this API gave.', {
      fieldErrors: [{ field: 'query.cursor', message: 'is not a valid cursor', code: 'invalid_cursor' }],
    });
  }
  return { ms: Number(ms), id };
}

/**
 * An event type filter as SQL, with the meaning of a webhook subscription's (`filterMatches` in
 * src/webhooks/subscriptions/filters.ts): `*` is every type (no condition), `user.*` every type under the dotted
 * prefix `user.`, anything else one exact type.
 */
export function typeFilter(filter: string): string | null {
  if (filter === '*') return null;
  if (filter.endsWith('.*')) return `startsWith(type, ${chLiteral(filter.slice(0, -1))})`;
  return `type = ${chLiteral(filter)}`;
}

export interface AuditQuery {
  limit: number;
  cursor?: string | undefined;
  user_id?: string | undefined;
  type?: string | undefined;
  ip?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

/** Events newest first, filtered, by cursor pages. */
export function listAuditEvents(client: ClickHouseClient, db: string, query: AuditQuery) {
  return read(async () => {
    const where: string[] = [];
    if (query.user_id) where.push(`user_id = ${chLiteral(query.user_id)}`);
    const type = query.type ? typeFilter(query.type) : null;
    if (type) where.push(type);
    if (query.ip) where.push(`ip = ${chLiteral(query.ip)}`);
    if (query.from) where.push(occurredSince(Date.parse(query.from)));
    if (query.to) where.push(occurredBefore(Date.parse(query.to)));
    if (query.cursor) {
      const { ms, id } = decodeCursor(query.cursor);
      where.push(`(occurred_ms < ${ms} OR (occurred_ms = ${ms} AND event_id < ${chLiteral(id)}))`);
    }
    const result = await client.query({
      query: `SELECT event_id, type, occurred_ms, user_id, actor_type, actor_id, ip, user_agent, request_id, data
      FROM ${db}.audit_events FINAL
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY occurred_ms DESC, event_id DESC
      LIMIT ${query.limit + 1}`,
      format: 'JSONEachRow',
    });
    const rows = await result.json<Row>();
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: page.map(view),
      next_cursor: rows.length > query.limit && last ? encodeCursor(last) : null,
    };
  });
}

/** Per UTC day in [from, to): registrations, successful and failed logins, distinct active users. */
export function dailyStats(client: ClickHouseClient, db: string, range: { from: string; to: string }) {
  return read(async () => {
    const result = await client.query({
      query: `SELECT toString(toDate(occurred_at, 'UTC')) AS day,
        countIf(type = 'user.registered') AS registrations,
        countIf(type = 'user.login') AS logins,
        countIf(type = 'user.login.failed') AS failed_logins,
        uniqExactIf(user_id, type IN ('user.login', 'user.token.refreshed')) AS active_users
      FROM ${db}.audit_events FINAL
      WHERE ${occurredSince(Date.parse(range.from))} AND ${occurredBefore(Date.parse(range.to))}
      GROUP BY day ORDER BY day`,
      format: 'JSONEachRow',
    });
    const byDay = new Map(
      (await result.json<Record<string, string | number>>()).map((row) => [String(row.day), row]),
    );
    const days = [];
    for (
      let day = new Date(`${range.from.slice(0, 10)}T00:00:00Z`);
      day < new Date(range.to);
      day = new Date(day.getTime() + 86_400_000)
    ) {
      const key = day.toISOString().slice(0, 10);
      const row = byDay.get(key);
      days.push({
        day: key,
        registrations: Number(row?.registrations ?? 0),
        logins: Number(row?.logins ?? 0),
        failed_logins: Number(row?.failed_logins ?? 0),
        active_users: Number(row?.active_users ?? 0),
      });
    }
    return { days };
  });
}

/** Top `top` IPs and top `top` targeted accounts by failed logins over the `windowSeconds` before `now`. */
export function failedLoginStats(
  client: ClickHouseClient,
  db: string,
  windowSeconds: number,
  top = 10,
  now: Date = new Date(),
) {
  return read(async () => {
    const since = now.getTime() - Math.floor(windowSeconds) * 1_000;
    const base = `FROM ${db}.audit_events FINAL WHERE type = 'user.login.failed' AND ${occurredSince(since)}`;
    const [ips, accounts] = await Promise.all([
      client.query({
        query: `SELECT ip, count() AS failures, uniqExact(email) AS accounts ${base} GROUP BY ip ORDER BY failures DESC, ip LIMIT ${Math.floor(top)}`,
        format: 'JSONEachRow',
      }),
      client.query({
        query: `SELECT email, count() AS failures, uniqExact(ip) AS ips ${base} GROUP BY email ORDER BY failures DESC, email LIMIT ${Math.floor(top)}`,
        format: 'JSONEachRow',
      }),
    ]);
    const number = (rows: Record<string, unknown>[], fields: string[]) =>
      rows.map((row) =>
        Object.fromEntries(Object.entries(row).map(([k, v]) => [k, fields.includes(k) ? Number(v) : v])),
      );
    return {
      window_seconds: windowSeconds,
      top_ips: number(await ips.json(), ['failures', 'accounts']),
      top_accounts: number(await accounts.json(), ['failures', 'ips']),
    };
  });
}
