import { v7 as uuidv7 } from 'uuid';
import {
  type AuditEventView,
  type AuditQuery,
  dailyStats,
  failedLoginStats,
  listAuditEvents,
} from '../../src/audit/queries.js';
import { type AuditRow, auditRow } from '../../src/audit/rows.js';
import { type DetectionRules, type Finding, findSuspicious } from '../../src/audit/suspicious.js';
import type { ClickHouseClient } from '../../src/clickhouse/client.js';
import type { Actor, EventData, EventType } from '../../src/events/catalog.js';
import { buildEvent } from '../../src/events/envelope.js';
import { filterMatches } from '../../src/webhooks/subscriptions/filters.js';

/**
 * A realistic audit log for running every audit query on several ClickHouse engines and time zones:
 * three users and an unknown email over four UTC days, events on both sides of UTC midnight (where a
 * server time zone shifts the day), two events in the same millisecond, an event 400 days old, a
 * credential-stuffing burst and logins after failures from a new and from a known IP, quotes and
 * backslashes in values, and redelivered copies of some events (as after a worker crash).
 */
export interface AuditFixture {
  now: Date;
  users: { ada: string; bob: string; cyd: string };
  /** Every event once, as the audit worker stores it. */
  rows: AuditRow[];
  /** Second copies of some of them, stored later. */
  redelivered: AuditRow[];
  /** The last hour's rows: the batch the detector is given. */
  batch: AuditRow[];
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

export const detectionRules: DetectionRules = {
  stuffingFailures: 4,
  stuffingIps: 3,
  windowSeconds: 3_600,
  newIpAfterFailures: 3,
  newIpLookbackSeconds: 90 * 86_400,
};

export function auditFixture(now: Date = new Date()): AuditFixture {
  const users = { ada: uuidv7(), bob: uuidv7(), cyd: uuidv7() };
  const emails = { ada: 'ada@example.com', bob: "o'brien@example.com", cyd: 'cyd@example.com' };
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const at = now.getTime();
  const rows: AuditRow[] = [];
  const add = <T extends EventType>(
    type: T,
    time: number,
    user: keyof typeof users | null,
    ip: string | null,
    data: EventData<T>,
    extra: { actor?: Actor; userAgent?: string } = {},
  ) => {
    const userId = user ? users[user] : null;
    const event = buildEvent({
      type,
      userId,
      actor: extra.actor ?? (userId ? { type: 'user', id: userId } : { type: 'system', id: null }),
      meta: { ip, userAgent: extra.userAgent ?? 'Mozilla/5.0 (X11; Linux x86_64)', requestId: uuidv7() },
      data,
      occurredAt: new Date(time),
    });
    const row = auditRow(event, { truncateIp: false });
    rows.push(row);
    return row;
  };
  const session = () => uuidv7();

  add('user.login', at - 400 * DAY, 'ada', '203.0.113.10', { session_id: session(), email: emails.ada });
  add(
    'security.alert',
    today - 3 * DAY + 8 * HOUR,
    null,
    null,
    {
      kind: 'credential_stuffing',
      email: 'someone@example.com',
      evidence: { failures: 40, ips: 9, window_seconds: 600 },
    },
    { actor: { type: 'system', id: null } },
  );
  add('user.registered', today - 2 * DAY + 10 * HOUR, 'ada', '203.0.113.10', {
    email: emails.ada,
    name: 'Ada',
    role: 'user',
  });
  const adaFirstLogin = add('user.login', today - 2 * DAY + 10 * HOUR + MINUTE, 'ada', '203.0.113.10', {
    session_id: session(),
    email: emails.ada,
  });
  add('user.registered', today - DAY + 30_000, 'bob', '2001:db8::7', {
    email: emails.bob,
    name: "Bob O'Brien",
    role: 'user',
  });
  add('user.token.refreshed', today - DAY + 12 * HOUR, 'ada', '203.0.113.10', { session_id: session() });
  add(
    'user.profile.updated',
    today - DAY + 12 * HOUR + 5 * MINUTE + 250,
    'ada',
    '203.0.113.10',
    { changes: { name: { old: 'Ada', new: 'Ada "\\L\\" O\'Lovelace' } } },
    { userAgent: 'curl/8.5 "quoted" \\ back\\slash' },
  );
  const bobLogin = add('user.login', today - DAY + 23 * HOUR + 30 * MINUTE, 'bob', '2001:db8::7', {
    session_id: session(),
    email: emails.bob,
  });
  const midnight = today - 1;
  add('user.registered', midnight, 'cyd', '192.0.2.80', { email: emails.cyd, name: null, role: 'user' });
  const roleChange = add(
    'user.role.changed',
    midnight,
    'cyd',
    '203.0.113.10',
    { from: 'user', to: 'admin', by: { type: 'admin', id: users.ada } },
    { actor: { type: 'admin', id: users.ada } },
  );
  const failed = (time: number, user: keyof typeof users | null, email: string, ip: string) =>
    add('user.login.failed', time, user, ip, { email, reason: 'bad_credentials' });
  failed(at - 2 * HOUR, 'bob', emails.bob, '198.51.100.7');
  const batchStart = rows.length;
  const adaFailures = [
    failed(at - 50 * MINUTE, 'ada', emails.ada, '198.51.100.1'),
    failed(at - 40 * MINUTE, 'ada', emails.ada, '198.51.100.2'),
    failed(at - 30 * MINUTE, 'ada', emails.ada, '198.51.100.3'),
    failed(at - 20 * MINUTE, 'ada', emails.ada, '198.51.100.1'),
  ];
  const bobFailures = [15, 14, 13].map((m) => failed(at - m * MINUTE, 'bob', emails.bob, '198.51.100.7'));
  const unknown = [12, 11].map((m) => failed(at - m * MINUTE, null, 'nobody@example.com', '198.51.100.9'));
  const adaNewIp = add('user.login', at - 5 * MINUTE, 'ada', '192.0.2.44', {
    session_id: session(),
    email: emails.ada,
  });
  add('user.login', at - 4 * MINUTE, 'bob', '2001:db8::7', { session_id: session(), email: emails.bob });
  add('user.login', at - 3 * MINUTE, 'cyd', '192.0.2.80', { session_id: session(), email: emails.cyd });

  const again = [adaFirstLogin, bobLogin, roleChange, adaNewIp, ...adaFailures, ...bobFailures, ...unknown];
  const redelivered = again.map((row) => ({ ...row, inserted_ms: row.inserted_ms + 1 }));
  return { now, users, rows, redelivered, batch: rows.slice(batchStart) };
}

/** Stores the fixture as the worker does (JSONEachRow inserts), the redelivered copies in a later insert. */
export async function storeFixture(client: ClickHouseClient, db: string, fixture: AuditFixture) {
  await client.insert({ table: `${db}.audit_events`, format: 'JSONEachRow', values: fixture.rows });
  await client.insert({ table: `${db}.audit_events`, format: 'JSONEachRow', values: fixture.redelivered });
}

const iso = (ms: number) => new Date(ms).toISOString();

function listCases(fixture: AuditFixture): Record<string, AuditQuery> {
  const today = Date.UTC(fixture.now.getUTCFullYear(), fixture.now.getUTCMonth(), fixture.now.getUTCDate());
  const profileUpdate = fixture.rows.find((row) => row.type === 'user.profile.updated')?.occurred_ms ?? 0;
  return {
    'everything, 5 a page': { limit: 5 },
    "ada's trail, 2 a page": { limit: 2, user_id: fixture.users.ada },
    'type=*': { limit: 100, type: '*' },
    'type=user.*': { limit: 100, type: 'user.*' },
    'type=user.login': { limit: 100, type: 'user.login' },
    'type=user.login.*': { limit: 100, type: 'user.login.*' },
    'type=security.*': { limit: 100, type: 'security.*' },
    "bob's logins before today": {
      limit: 100,
      user_id: fixture.users.bob,
      type: 'user.login',
      to: iso(today),
    },
    'ip=198.51.100.1': { limit: 100, ip: '198.51.100.1' },
    'ip=2001:db8::7': { limit: 100, ip: '2001:db8::7' },
    'yesterday (UTC)': { limit: 100, from: iso(today - DAY), to: iso(today) },
    'yesterday in +01:00': {
      limit: 100,
      from: `${iso(today - DAY).slice(0, 10)}T00:00:00+01:00`,
      to: `${iso(today).slice(0, 10)}T00:00:00+01:00`,
    },
    'from one millisecond after an event': {
      limit: 100,
      user_id: fixture.users.ada,
      from: iso(profileUpdate + 1),
    },
  };
}

const dailyRanges = (fixture: AuditFixture) => {
  const today = Date.UTC(fixture.now.getUTCFullYear(), fixture.now.getUTCMonth(), fixture.now.getUTCDate());
  return {
    'four days': { from: iso(today - 3 * DAY), to: iso(today + DAY) },
    'yesterday from 12:05:00.251': { from: iso(today - DAY + 12 * HOUR + 5 * MINUTE + 251), to: iso(today) },
  };
};

const failedCases = {
  '1h, top 10': [3_600, 10],
  '1h, top 1': [3_600, 1],
  '3h, top 10': [10_800, 10],
} as const;

const byKind = (findings: Finding[]) => [...findings].sort((a, b) => a.kind.localeCompare(b.kind));

/** Every read of the audit log through the platform's own code, by name: the API's and the detector's. */
export async function auditResults(client: ClickHouseClient, db: string, fixture: AuditFixture) {
  const results: Record<string, unknown> = {};
  for (const [name, query] of Object.entries(listCases(fixture))) {
    const pages: AuditEventView[][] = [];
    let cursor: string | null = null;
    do {
      const page: { items: AuditEventView[]; next_cursor: string | null } = await listAuditEvents(
        client,
        db,
        {
          ...query,
          ...(cursor ? { cursor } : {}),
        },
      );
      pages.push(page.items);
      cursor = page.next_cursor;
    } while (cursor && pages.length < 50);
    results[`events: ${name}`] = pages;
  }
  for (const [name, range] of Object.entries(dailyRanges(fixture)))
    results[`daily: ${name}`] = await dailyStats(client, db, range);
  for (const [name, [window, top]] of Object.entries(failedCases))
    results[`failed logins: ${name}`] = await failedLoginStats(client, db, window, top, fixture.now);
  results['detector findings'] = byKind(
    await findSuspicious(client, `${db}.audit_events`, fixture.batch, detectionRules, fixture.now),
  );
  return results;
}

const view = (row: AuditRow): AuditEventView => ({
  id: row.event_id,
  type: row.type,
  occurred_at: iso(row.occurred_ms),
  user_id: row.user_id || null,
  actor: { type: row.actor_type, id: row.actor_id || null },
  ip: row.ip || null,
  user_agent: row.user_agent || null,
  request_id: row.request_id || null,
  data: JSON.parse(row.data) as unknown,
});

const newestFirst = (a: AuditRow, b: AuditRow) =>
  b.occurred_ms - a.occurred_ms || (a.event_id < b.event_id ? 1 : a.event_id > b.event_id ? -1 : 0);

/** What `auditResults` must give, worked out from the fixture in plain TypeScript. */
export function expectedAuditResults(fixture: AuditFixture) {
  const results: Record<string, unknown> = {};
  for (const [name, query] of Object.entries(listCases(fixture))) {
    const matching = fixture.rows
      .filter(
        (row) =>
          (!query.user_id || row.user_id === query.user_id) &&
          (!query.type || filterMatches(query.type, row.type)) &&
          (!query.ip || row.ip === query.ip) &&
          (!query.from || row.occurred_ms >= Date.parse(query.from)) &&
          (!query.to || row.occurred_ms < Date.parse(query.to)),
      )
      .sort(newestFirst)
      .map(view);
    const pages: AuditEventView[][] = [];
    for (let start = 0; start < matching.length; start += query.limit)
      pages.push(matching.slice(start, start + query.limit));
    results[`events: ${name}`] = pages.length > 0 ? pages : [[]];
  }
  for (const [name, range] of Object.entries(dailyRanges(fixture))) {
    const days = [];
    for (
      let day = Date.parse(`${range.from.slice(0, 10)}T00:00:00Z`);
      day < Date.parse(range.to);
      day += DAY
    ) {
      const rows = fixture.rows.filter(
        (row) =>
          row.occurred_ms >= Math.max(day, Date.parse(range.from)) &&
          row.occurred_ms < Math.min(day + DAY, Date.parse(range.to)),
      );
      const count = (type: string) => rows.filter((row) => row.type === type).length;
      days.push({
        day: iso(day).slice(0, 10),
        registrations: count('user.registered'),
        logins: count('user.login'),
        failed_logins: count('user.login.failed'),
        active_users: new Set(
          rows
            .filter((row) => ['user.login', 'user.token.refreshed'].includes(row.type))
            .map((row) => row.user_id),
        ).size,
      });
    }
    results[`daily: ${name}`] = { days };
  }
  for (const [name, [window, top]] of Object.entries(failedCases)) {
    const failures = fixture.rows.filter(
      (row) => row.type === 'user.login.failed' && row.occurred_ms >= fixture.now.getTime() - window * 1_000,
    );
    const tops = (key: 'ip' | 'email', other: 'ip' | 'email', otherName: string) => {
      const groups = new Map<string, AuditRow[]>();
      for (const row of failures) groups.set(row[key], [...(groups.get(row[key]) ?? []), row]);
      return [...groups]
        .map(([value, rows]) => ({
          [key]: value,
          failures: rows.length,
          [otherName]: new Set(rows.map((row) => row[other])).size,
        }))
        .sort(
          (a, b) =>
            b.failures - a.failures ||
            (String(a[key]) < String(b[key]) ? -1 : String(a[key]) > String(b[key]) ? 1 : 0),
        )
        .slice(0, top);
    };
    results[`failed logins: ${name}`] = {
      window_seconds: window,
      top_ips: tops('ip', 'email', 'accounts'),
      top_accounts: tops('email', 'ip', 'ips'),
    };
  }
  results['detector findings'] = byKind([
    {
      kind: 'credential_stuffing',
      email: 'ada@example.com',
      userId: fixture.users.ada,
      evidence: { failures: 4, ips: 3 },
    },
    {
      kind: 'new_ip_after_failures',
      email: 'ada@example.com',
      userId: fixture.users.ada,
      evidence: { failures: 4, ips: 3, ip: '192.0.2.44' },
    },
  ]);
  return results;
}
