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

/** A login in the batch, as the rules read it. */
export type BatchLogin = Pick<AuditRow, 'email' | 'user_id' | 'ip' | 'occurred_ms'>;

/** What the rules judge: the audit log's answers about one batch, already fetched by `findSuspicious`. */
export interface SuspicionFacts {
  /** Accounts that failed in the batch: failed logins and distinct IPs in the window before now. */
  failedAccounts: readonly { email: string; userId: string | null; failures: number; ips: number }[];
  /** The batch's logins that have a user and an IP. */
  logins: readonly BatchLogin[];
  /** Those users' first login from each of those IPs, as far back as the lookback reaches. */
  firstSeen: readonly { userId: string; ip: string; ms: number }[];
  /** Those users' failed logins (each once), from one window before their first login in the batch on. */
  failures: readonly { userId: string; ip: string; ms: number }[];
}

/** The rules, with no I/O: what in the facts is suspicious. Stuffing findings first, then new IPs. */
export function suspiciousFindings(facts: SuspicionFacts, rules: DetectionRules): Finding[] {
  return [...stuffingFindings(facts.failedAccounts, rules), ...newIpFindings(facts, rules)];
}

/** Credential stuffing: enough failures on one account, from enough distinct IPs, within the window. */
function stuffingFindings(accounts: SuspicionFacts['failedAccounts'], rules: DetectionRules): Finding[] {
  return accounts
    .filter((account) => account.failures >= rules.stuffingFailures && account.ips >= rules.stuffingIps)
    .map(
      (account): Finding => ({
        kind: 'credential_stuffing',
        email: account.email,
        userId: account.userId,
        evidence: { failures: account.failures, ips: account.ips },
      }),
    );
}

/**
 * A login from an IP the user had not logged in from before it (an earlier login from the same IP makes
 * it known), after enough failures in the window before it.
 */
function newIpFindings(facts: SuspicionFacts, rules: DetectionRules): Finding[] {
  const windowMs = rules.windowSeconds * 1_000;
  const firstSeen = new Map(facts.firstSeen.map((seen) => [`${seen.userId} ${seen.ip}`, seen.ms]));
  const failuresOf = new Map<string, SuspicionFacts['failures'][number][]>();
  for (const failure of facts.failures) {
    const mine = failuresOf.get(failure.userId);
    if (mine) mine.push(failure);
    else failuresOf.set(failure.userId, [failure]);
  }
  const found: Finding[] = [];
  for (const login of facts.logins) {
    const known = firstSeen.get(`${login.user_id} ${login.ip}`);
    if (known !== undefined && known < login.occurred_ms) continue;
    const before = (failuresOf.get(login.user_id) ?? []).filter(
      (failure) => failure.ms >= login.occurred_ms - windowMs && failure.ms < login.occurred_ms,
    );
    if (before.length < rules.newIpAfterFailures) continue;
    found.push({
      kind: 'new_ip_after_failures',
      email: login.email,
      userId: login.user_id,
      evidence: {
        failures: before.length,
        ips: new Set(before.map((failure) => failure.ip)).size,
        ip: login.ip,
      },
    });
  }
  return found;
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

type Select = <T>(query: string) => Promise<T[]>;

/**
 * Looks for suspicious activity around a batch of stored rows, in `table`. The rows are compared with
 * the table as stored (an IP truncated by `AUDIT_TRUNCATE_IP` against truncated IPs), with three
 * queries per batch (per 500 accounts), each bounded in time so ClickHouse reads only the partitions
 * concerned. No `FINAL`: a redelivered event is counted once by `uniqExact(event_id)`.
 * - credential stuffing, for each account that failed in the batch: failures and distinct IPs in the
 *   `windowSeconds` before `now`;
 * - for each login in the batch: was its IP used by the user in an earlier login (within the
 *   lookback), and how many failures (from how many IPs) in the window before it.
 * The rules themselves are `suspiciousFindings`: this fetches the facts they judge.
 */
export async function findSuspicious(
  client: ClickHouseClient,
  table: string,
  rows: readonly AuditRow[],
  rules: DetectionRules,
  now: Date = new Date(),
): Promise<Finding[]> {
  const select: Select = async <T>(query: string) =>
    (await client.query({ query, format: 'JSONEachRow' })).json<T>();
  const logins = rows.filter((row) => row.type === 'user.login' && row.user_id && row.ip);
  const users = chunks([...new Set(logins.map((row) => row.user_id))]);
  const [failedAccounts, histories] = await Promise.all([
    countFailures(select, table, rows, rules, now),
    Promise.all(users.map((chunk) => loginHistory(select, table, logins, chunk, rules))),
  ]);
  return suspiciousFindings(
    {
      failedAccounts,
      logins: histories.flatMap((history) => history.logins),
      firstSeen: histories.flatMap((history) => history.firstSeen),
      failures: histories.flatMap((history) => history.failures),
    },
    rules,
  );
}

/**
 * Each account that failed in the batch, with its failures and distinct IPs in the window before `now`.
 * The query's HAVING already leaves out accounts under the stuffing thresholds (less to send back);
 * `stuffingFindings` applies them again, so the rule is whole without the query.
 */
async function countFailures(
  select: Select,
  table: string,
  rows: readonly AuditRow[],
  rules: DetectionRules,
  now: Date,
): Promise<SuspicionFacts['failedAccounts']> {
  const windowMs = rules.windowSeconds * 1_000;
  const failedUser = new Map<string, string | null>();
  for (const row of rows) {
    if (row.type === 'user.login.failed' && row.email) failedUser.set(row.email, row.user_id || null);
  }
  const counted = await Promise.all(
    chunks([...failedUser.keys()]).map((emails) =>
      select<{ email: string; failures: string | number; ips: string | number }>(
        `SELECT email, uniqExact(event_id) AS failures, uniqExact(ip) AS ips FROM ${table}
       WHERE type = 'user.login.failed' AND email IN (${list(emails)}) AND ${occurredSince(now.getTime() - windowMs)}
       GROUP BY email HAVING failures >= ${rules.stuffingFailures} AND ips >= ${rules.stuffingIps}`,
      ),
    ),
  );
  return counted.flat().map((row) => ({
    email: row.email,
    userId: failedUser.get(row.email) ?? null,
    failures: Number(row.failures),
    ips: Number(row.ips),
  }));
}

/**
 * For one chunk of users, the history around their logins in the batch: when each first logged in from
 * each of those IPs (within the lookback), and their failures from one window before the first login.
 */
async function loginHistory(
  select: Select,
  table: string,
  logins: readonly AuditRow[],
  users: readonly string[],
  rules: DetectionRules,
) {
  const windowMs = rules.windowSeconds * 1_000;
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
  return {
    logins: mine,
    firstSeen: seen.map((row) => ({ userId: row.user_id, ip: row.ip, ms: Number(row.first_ms) })),
    failures: failures.map((row) => ({ userId: row.user_id, ip: row.failed_ip, ms: Number(row.failed_ms) })),
  };
}
