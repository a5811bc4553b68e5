// The deliveries search as an operator uses it: GET /v1/webhooks/deliveries (limit 50) through the real
// API process, one request at a time, by each filter in turn, a different value each request where
// that makes sense (values picked from the database up front). p95 from an HDR histogram.
import type { Redis } from 'ioredis';
import type { Sql } from '../../../src/db/client.js';
import { percentilesOf } from '../../lib/histogram.js';
import type { Children } from '../children.js';

export const filters = ['subscription', 'status', 'time_range', 'event_id', 'user_id'] as const;
export type Filter = (typeof filters)[number];

const WARM_UP = 5;
const REQUESTS = 50;
const DAY = 86_400_000;
const ADMIN = { email: 'bench-scale-admin@example.com', password: 'scale-bench-kettle-orchard-4471' };

export interface SearchValues {
  subscriptions: string[];
  eventIds: string[];
  userIds: string[];
}

/** Which values each request searches by: `i` is the request's number. */
const queries: Record<Filter, (values: SearchValues, i: number) => Record<string, string>> = {
  subscription: (v, i) => ({ subscription_id: at(v.subscriptions, i) }),
  status: () => ({ status: 'dead' }),
  time_range: (_, i) => {
    // One hour, three days ago (moved by 7 minutes each request, so no two read the same rows).
    const from = Date.now() - 3 * DAY - i * 7 * 60_000;
    return { from: new Date(from).toISOString(), to: new Date(from + 3_600_000).toISOString() };
  },
  event_id: (v, i) => ({ event_id: at(v.eventIds, i) }),
  user_id: (v, i) => ({ user_id: at(v.userIds, i) }),
};

function at(values: string[], i: number): string {
  const value = values[i % values.length];
  if (value === undefined) throw new Error('no value to search by');
  return value;
}

/**
 * Existing events and their users, a sample spread over every partition (TABLESAMPLE SYSTEM reads only
 * the pages it picks: a random order of the whole table would read all of it, and warm the cache).
 */
export async function searchValues(sql: Sql, subscriptions: string[]): Promise<SearchValues> {
  const count = WARM_UP + REQUESTS;
  const [size] = await sql<{ n: number }[]>`
    SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::float8 AS n FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'webhook_events'::regclass`;
  const percent = Math.min(100, Math.max(0.01, (100 * count * 40) / Math.max(size?.n ?? 0, 1)));
  type Row = { id: string; user_id: string };
  let rows = await sql<Row[]>`
    SELECT id::text, payload->>'user_id' AS user_id FROM webhook_events TABLESAMPLE SYSTEM (${percent}::real)
    WHERE payload->>'user_id' IS NOT NULL ORDER BY random() LIMIT ${count}`;
  if (rows.length < count) {
    rows = await sql<Row[]>`
      SELECT id::text, payload->>'user_id' AS user_id FROM webhook_events
      WHERE payload->>'user_id' IS NOT NULL ORDER BY random() LIMIT ${count}`;
  }
  return { subscriptions, eventIds: rows.map((row) => row.id), userIds: rows.map((row) => row.user_id) };
}

/** Starts the API process on the bench's database; its first admin from ADMIN_EMAIL/ADMIN_PASSWORD. */
export async function startApi(children: Children, env: Record<string, string>, run: string) {
  const started = await children.start(
    ['workers/api.ts'],
    {
      ...env,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      JWT_SECRET: `bench-scale-${run}-0123456789abcdef0123456789abcdef`,
      LOGIN_MAX_PER_IP: '100000',
      LOGIN_MAX_FAILURES_PER_ACCOUNT_IP: '1000',
    },
    (line) => line.includes('"process ready"'),
  );
  const base = `http://127.0.0.1:${(JSON.parse(started.line) as { port: number }).port}`;
  return { base, child: started.child };
}

/** An admin's access token (asked again before each measurement: one lives 15 minutes by default). */
export async function signIn(base: string): Promise<string> {
  const response = await fetch(`${base}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN),
  });
  const body = (await response.json()) as { access_token?: string };
  if (response.status !== 200 || !body.access_token) {
    throw new Error(`admin sign-in failed: ${response.status} ${JSON.stringify(body)}`);
  }
  return body.access_token;
}

/**
 * Removes what the admin's sign-ins left in the shared Redis: its login counter, the IPs it is known
 * at (kept 30 days) and its cached sessions. Run before the bench's database is dropped.
 */
export async function forgetAdmin(sql: Sql, redis: Redis): Promise<void> {
  const users = await sql<{ id: string }[]>`SELECT id FROM users WHERE email = ${ADMIN.email}`;
  const ids = users.map((user) => user.id);
  const sessions = await sql<{ id: string }[]>`SELECT id FROM sessions WHERE user_id = ANY(${ids}::uuid[])`;
  await redis.del(
    `hookline:rl:login:fail:${ADMIN.email}`,
    ...ids.map((id) => `hookline:known-ips:${id}`),
    ...sessions.flatMap((session) => [
      `hookline:session:${session.id}`,
      `hookline:session-touch:${session.id}`,
    ]),
  );
}

export type SearchFigures = {
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  items_mean: number;
};

/** Each filter's latencies: WARM_UP requests, then REQUESTS measured ones. */
export async function measureSearch(base: string, token: string, values: SearchValues) {
  const figures = {} as Record<Filter, SearchFigures>;
  for (const filter of filters) {
    const micros: number[] = [];
    let items = 0;
    for (let i = 0; i < WARM_UP + REQUESTS; i++) {
      const query = new URLSearchParams({ limit: '50', ...queries[filter](values, i) });
      const started = performance.now();
      const response = await fetch(`${base}/v1/webhooks/deliveries?${query}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const text = await response.text();
      const took = performance.now() - started;
      if (response.status !== 200) throw new Error(`search by ${filter}: ${response.status} ${text}`);
      if (i < WARM_UP) continue;
      micros.push(took * 1_000);
      items += (JSON.parse(text) as { items: unknown[] }).items.length;
    }
    // In microseconds, for a figure in ms with decimals (the histogram keeps integers).
    const p = percentilesOf(micros);
    const ms = (us: number) => Number((us / 1_000).toFixed(2));
    figures[filter] = {
      p50_ms: ms(p.p50),
      p95_ms: ms(p.p95),
      p99_ms: ms(p.p99),
      max_ms: ms(p.max),
      items_mean: Number((items / REQUESTS).toFixed(1)),
    };
  }
  return figures;
}
