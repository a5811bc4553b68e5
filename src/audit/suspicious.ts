import type { ClickHouseClient } from '../clickhouse/client.js';
import { chLiteral } from '../clickhouse/sql.js';
import type { securityAlertKinds } from '../events/catalog.js';
import type { AuditRow } from './rows.js';
import { occurredBefore, occurredSince } from './time-bounds.js';

export interface DetectionRules {
  /** Credential stuffing: at least this many failed logins on one account… */
  stuffingFailures: number;
  /** …from at least this many distinct IPs, within `windowSeconds` before now. */
  stuffingIps: number;
  windowSeconds: number;
  /** A login from an IP new for the user after at least this many failures in the window before it. */
  newIpAfterFailures: number;
  /** How far back an IP counts as known for the user. */
  newIpLookbackSeconds: number;
}

export interface Finding {
  kind: (typeof securityAlertKinds)[number];
  email: string;
  userId: string | null;
  evidence: { failures: number; ips: number; ip?: string };
}

/** Keys per query: keeps each statement far below ClickHouse's `max_query_size` (256 KiB). */
const keysPerQuery = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += keysPerQuery)
    out.push(items.slice(start, start + keysPerQuery));
  return out;
}

const list = (values: Iterable<string>) => [...values].map(chLiteral).join(', ');

/**
 * Looks for suspicious activity around a batch of stored rows, in `table`. The rows are compared with
 * the table as stored (an IP truncated by `AUDIT_TRUNCATE_IP` against truncated IPs), with three
 * queries per batch (per 500 accounts), each bounded in time so ClickHouse reads only the partitions
 * concerned. No `FINAL`: a redelivered event is counted once by `uniqExact(event_id)`.
 * - credential stuffing, for each account that failed in the batch: failures and distinct IPs in the
 *   `windowSeconds` before `now`;
 * - for each login in the batch: was its IP used by the user in an earlier login (within the
 *   lookback), and how many failures (from how many IPs) in the window before it.
 */
export async function findSuspicious(
  client: ClickHouseClient,
  table: string,
  rows: readonly AuditRow[],
  rules: DetectionRules,
  now: Date = new Date(),
): Promise<Finding[]> {
  const select = async <T>(query: string) => (await client.query({ query, format: 'JSONEachRow' })).json<T>();
  const windowMs = rules.windowSeconds * 1_000;

  const failedUser = new Map<string, string | null>();
  for (const row of rows) {
    if (row.type === 'user.login.failed' && row.email) failedUser.set(row.email, row.user_id || null);
  }
  const stuffing = chunks([...failedUser.keys()]).map((emails) =>
    select<{ email: string; failures: string | number; ips: string | number }>(
      `SELECT email, uniqExact(event_id) AS failures, uniqExact(ip) AS ips FROM ${table}
       WHERE type = 'user.login.failed' AND email IN (${list(emails)}) AND ${occurredSince(now.getTime() - windowMs)}
       GROUP BY email HAVING failures >= ${rules.stuffingFailures} AND ips >= ${rules.stuffingIps}`,
    ),
  );

  const logins = rows.filter((row) => row.type === 'user.login' && row.user_id && row.ip);
  const newIp = chunks([...new Set(logins.map((row) => row.user_id))]).map(async (users) => {
    const chunk = new Set(users);
    const mine = logins.filter((row) => chunk.has(row.user_id));
    const times = mine.map((row) => row.occurred_ms);
    const first = Math.min(...times);
    const last = Math.max(...times) + 1;
    const [seen, failures] = await Promise.all([
      select<{ user_id: string; ip: string; first_ms: string | number }>(
        `SELECT user_id, ip, min(occurred_ms) AS first_ms FROM ${table}
         WHERE type = 'user.login' AND user_id IN (${list(users)}) AND ip IN (${list(new Set(mine.map((row) => row.ip)))})
           AND ${occurredSince(first - rules.newIpLookbackSeconds * 1_000)} AND ${occurredBefore(last)}
         GROUP BY user_id, ip`,
      ),
      // Aliases other than the column names: 18.16 would put an alias's aggregate into WHERE.
      select<{ user_id: string; failed_ip: string; failed_ms: string | number }>(
        `SELECT user_id, event_id, any(ip) AS failed_ip, any(occurred_ms) AS failed_ms FROM ${table}
         WHERE type = 'user.login.failed' AND user_id IN (${list(users)})
           AND ${occurredSince(first - windowMs)} AND ${occurredBefore(last)}
         GROUP BY user_id, event_id`,
      ),
    ]);
    const firstSeen = new Map(seen.map((row) => [`${row.user_id} ${row.ip}`, Number(row.first_ms)]));
    const found: Finding[] = [];
    for (const login of mine) {
      const known = firstSeen.get(`${login.user_id} ${login.ip}`);
      if (known !== undefined && known < login.occurred_ms) continue;
      const before = failures.filter(
        (row) =>
          row.user_id === login.user_id &&
          Number(row.failed_ms) >= login.occurred_ms - windowMs &&
          Number(row.failed_ms) < login.occurred_ms,
      );
      if (before.length < rules.newIpAfterFailures) continue;
      found.push({
        kind: 'new_ip_after_failures',
        email: login.email,
        userId: login.user_id,
        evidence: {
          failures: before.length,
          ips: new Set(before.map((row) => row.failed_ip)).size,
          ip: login.ip,
        },
      });
    }
    return found;
  });

  const [stuffed, newIps] = await Promise.all([Promise.all(stuffing), Promise.all(newIp)]);
  return [
    ...stuffed.flat().map(
      (row): Finding => ({
        kind: 'credential_stuffing',
        email: row.email,
        userId: failedUser.get(row.email) ?? null,
        evidence: { failures: Number(row.failures), ips: Number(row.ips) },
      }),
    ),
    ...newIps.flat(),
  ];
}
