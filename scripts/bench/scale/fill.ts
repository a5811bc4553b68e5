// The scale bench's fill: `rows` stored deliveries with their events and attempts, made in SQL a chunk
// at a time (one statement per chunk), in time order over the last 14 days so that each statement
// writes one or two daily partitions. Events are `user.profile.updated` envelopes as the platform
// stores them, about ~100,000 users; each goes to two of ~100 subscriptions of their own (disabled:
// the running fan-out never delivers to them). Statuses: about 95 % succeeded, 3 % dead (three attempts
// each), 2 % retrying (one attempt, next attempt a few hours ahead, so no sweeper takes them as lost).
import { v7 as uuidv7 } from 'uuid';
import { createDatabase, type Sql } from '../../../src/db/client.js';
import { newSigningSecret } from '../../../src/webhooks/delivery/signing.js';

export interface FillOptions {
  url: string;
  rows: number;
  /** Deliveries per statement. */
  chunk: number;
  /** The events' times: [from, to). */
  from: number;
  to: number;
  subscriptions: number;
  users: number;
  say: (text: string) => void;
}

export interface Filled {
  rows: number;
  events: number;
  attempts: number;
  seconds: number;
  subscriptionIds: string[];
}

export async function fill(options: FillOptions): Promise<Filled> {
  // A session of its own: room to sort a chunk in memory, and no wait for each chunk's WAL flush.
  const { sql, end } = createDatabase({
    url: options.url,
    poolSize: 1,
    applicationName: 'hookline-bench-scale-fill',
    settings: { work_mem: '128MB', maintenance_work_mem: '256MB', synchronous_commit: 'off', jit: 'off' },
  });
  try {
    const subscriptionIds = await insertSubscriptions(sql, options.subscriptions);
    const started = performance.now();
    const filled = { rows: 0, events: 0, attempts: 0 };
    const chunks = Math.max(1, Math.ceil(options.rows / options.chunk));
    const span = (options.to - options.from) / chunks;
    for (let i = 0; i < chunks; i++) {
      const deliveries = Math.min(options.chunk, options.rows - filled.rows);
      const from = options.from + i * span;
      const made = await fillChunk(sql, {
        from: new Date(from),
        to: new Date(from + span),
        deliveries,
        subscriptionIds,
        users: options.users,
      });
      filled.rows += deliveries;
      filled.events += Math.ceil(deliveries / 2);
      filled.attempts += made;
      options.say(progressLine(filled, options.rows, (performance.now() - started) / 1_000));
    }
    options.say(
      'VACUUM (ANALYZE) of the three tables (statistics for the planner, visibility for index-only scans)',
    );
    await sql`VACUUM (ANALYZE) webhook_events, webhook_deliveries, webhook_attempts, webhook_subscriptions`;
    return { ...filled, seconds: (performance.now() - started) / 1_000, subscriptionIds };
  } finally {
    await end({ timeout: 5 });
  }
}

/** The filler's subscriptions, disabled, to the same event type as the bench's. */
async function insertSubscriptions(sql: Sql, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => uuidv7());
  await sql`
    INSERT INTO webhook_subscriptions (id, url, event_types, secret, description, enabled, disabled_at, disabled_reason)
    SELECT id, 'http://127.0.0.1:9/scale/' || n, ARRAY['user.profile.updated'], secret, 'npm run bench:scale (filler)',
      false, now(), 'npm run bench:scale: rows only, never delivered'
    FROM unnest(${ids}::uuid[], ${ids.map(() => newSigningSecret())}::text[]) WITH ORDINALITY AS t(id, secret, n)`;
  return ids;
}

function progressLine(
  filled: { rows: number; events: number; attempts: number },
  total: number,
  seconds: number,
) {
  const rate = filled.rows / Math.max(seconds, 0.001);
  const eta = (total - filled.rows) / Math.max(rate, 1);
  const n = (value: number) => value.toLocaleString('en-US');
  const pct = ((filled.rows / total) * 100).toFixed(1);
  return `filled ${n(filled.rows)} / ${n(total)} deliveries (${pct} %; ${n(filled.events)} events, ${n(filled.attempts)} attempts) in ${seconds.toFixed(0)} s: ${n(Math.round(rate))} deliveries/s, ETA ${formatSeconds(eta)}`;
}

export const formatSeconds = (seconds: number) =>
  seconds >= 60
    ? `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`
    : `${Math.round(seconds)} s`;

/**
 * One statement: `deliveries` deliveries of ⌈deliveries/2⌉ events at random times in [from, to), each
 * event to two distinct subscriptions; delivery ids as the fan-out makes them (webhook_delivery_id);
 * returns the attempts inserted.
 */
async function fillChunk(
  sql: Sql,
  chunk: { from: Date; to: Date; deliveries: number; subscriptionIds: string[]; users: number },
): Promise<number> {
  const subs = chunk.subscriptionIds;
  const result = await sql`
    WITH ev AS MATERIALIZED (
      SELECT webhook_uuidv7(t) AS id, t, u, floor(random() * ${subs.length})::int AS a,
        floor(random() * ${subs.length - 1})::int AS b,
        (substr(h, 1, 12) || '4' || substr(h, 14, 3) || to_hex(8 | (('x' || substr(h, 17, 1))::bit(4)::int & 3))
          || substr(h, 18, 15))::uuid AS user_id
      FROM (SELECT ${chunk.from}::timestamptz + random() * (${chunk.to}::timestamptz - ${chunk.from}::timestamptz) AS t,
          floor(random() * ${chunk.users})::int AS u
        FROM generate_series(1, ${Math.ceil(chunk.deliveries / 2)})) s,
        LATERAL (SELECT md5('hookline-scale-user-' || s.u) AS h) x
    ), events AS (
      INSERT INTO webhook_events (id, type, occurred_at, payload, created_at)
      SELECT id, 'user.profile.updated', t, ${payloadSql(sql)}, t + interval '2 milliseconds' FROM ev ORDER BY id
    ), pairs AS MATERIALIZED (
      -- (random() in a subquery of its own: once per row, where a LATERAL subquery would run it once)
      SELECT id, event_id, sub, t,
        CASE WHEN r < 0.95 THEN 'succeeded' WHEN r < 0.98 THEN 'dead' ELSE 'retrying' END AS status
      FROM (SELECT webhook_delivery_id(ev.id, s.sub) AS id, ev.id AS event_id, s.sub, ev.t, random() AS r
        FROM ev CROSS JOIN LATERAL (VALUES ((${subs}::uuid[])[1 + ev.a]),
          ((${subs}::uuid[])[1 + (ev.a + 1 + ev.b) % ${subs.length}])) s(sub)) p
      ORDER BY id LIMIT ${chunk.deliveries}
    ), deliveries AS (
      INSERT INTO webhook_deliveries (id, event_id, subscription_id, event_type, status, attempts, next_attempt_at,
        last_status_code, last_error, event_occurred_at, created_at, updated_at, delivered_at)
      SELECT id, event_id, sub, 'user.profile.updated', status, CASE status WHEN 'dead' THEN 3 ELSE 1 END,
        CASE status WHEN 'retrying' THEN now() + (1 + 9 * random()) * interval '1 hour' END,
        CASE status WHEN 'succeeded' THEN 200 WHEN 'retrying' THEN 503 END,
        CASE status WHEN 'dead' THEN 'timeout: no response within 10000 ms' END,
        t, t + interval '5 milliseconds', t + CASE status WHEN 'dead' THEN interval '305 seconds' ELSE interval '150 milliseconds' END,
        CASE status WHEN 'succeeded' THEN t + interval '150 milliseconds' END
      FROM pairs
      RETURNING id, status, event_occurred_at AS t
    )
    ${attemptsSql(sql)}`;
  return result.count;
}

/** The attempts of the deliveries just inserted (`deliveries`): one each, three for a dead one. */
function attemptsSql(sql: Sql) {
  return sql`
    INSERT INTO webhook_attempts (id, delivery_id, number, started_at, duration_ms, status_code, error_kind,
      error_message, response_excerpt)
    SELECT webhook_uuidv7(started_at), id, n, started_at, duration_ms, code,
      CASE WHEN code IS NULL THEN 'timeout' END,
      CASE WHEN code IS NULL THEN 'no response within 10000 ms' END,
      CASE code WHEN 200 THEN '{"ok":true}' WHEN 500 THEN 'Internal Server Error' WHEN 503 THEN 'Service Unavailable' END
    FROM (
      SELECT d.id, n, d.t + interval '10 milliseconds' + (n - 1) * interval '150 seconds' AS started_at,
        CASE WHEN d.status = 'dead' AND n = 3 THEN 10000 ELSE 20 + floor(random() * 200)::int END AS duration_ms,
        CASE d.status WHEN 'succeeded' THEN 200 WHEN 'retrying' THEN 503 ELSE CASE WHEN n < 3 THEN 500 END END AS code
      FROM deliveries d, generate_series(1, CASE d.status WHEN 'dead' THEN 3 ELSE 1 END) n
    ) a`;
}

/** A `user.profile.updated` envelope as the platform stores it (buildEvent's fields), of `ev`'s row. */
function payloadSql(sql: Sql) {
  return sql`jsonb_build_object(
    'id', id, 'type', 'user.profile.updated',
    'occurred_at', to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'user_id', user_id, 'actor', jsonb_build_object('type', 'user', 'id', user_id),
    'ip', '198.51.100.' || (u % 250 + 1),
    'user_agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
    'request_id', gen_random_uuid(),
    'data', jsonb_build_object('changes', jsonb_build_object('name',
      jsonb_build_object('old', 'User ' || u, 'new', 'User ' || u || ' ' || substr(md5(id::text), 1, 6)))))`;
}
