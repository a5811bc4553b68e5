import { readdirSync, readFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/client.js';
import { allTopics } from '../../src/events/topics.js';
import { createKafka } from '../../src/kafka/client.js';
import { startGroupAtEnd } from '../../src/kafka/topics.js';
import { metricNames } from '../../src/metrics/names.js';
import { createRedis } from '../../src/redis.js';
import { TOP_FAILING_SUBSCRIPTIONS } from '../../src/webhooks/metrics.js';
import {
  apiClient,
  randomIp,
  signedUpUser,
  TEST_ADMIN_PASSWORD,
  type Tokens,
  uniqueEmail,
} from '../helpers/api.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { testLogger } from '../helpers/logger.js';
import { promQuery, promQueryRange, scrape } from '../helpers/metrics.js';
import { TEST_JWT_SECRET } from '../helpers/platform.js';
import { eventually, type SpawnedProcess, spawnProcess } from '../helpers/process.js';
import { type Receiver, startReceiver } from '../helpers/receiver.js';

// The acceptance test of the metrics: the platform as five separate processes on the ports the
// stack's Prometheus scrapes (prometheus/prometheus.yml), a scripted workload, then (1) the metrics
// say exactly what happened, as the API's answers and the database record it, and (2) the real
// Prometheus scrapes every process and answers every panel query of every dashboard with data.
// It owns ports 3000-3004 and runs delivery workers, so it runs in `chaos`, alone.

const PORTS = { api: 3000, relay: 3001, fanout: 3002, delivery: 3003, audit: 3004 } as const;
type ProcessName = keyof typeof PORTS;
const run = uniqueSuffix();
const ADMIN_EMAIL = uniqueEmail('metrics-admin');
const ADMIN_PASSWORD = TEST_ADMIN_PASSWORD;
const env = {
  JWT_SECRET: TEST_JWT_SECRET,
  TRUST_PROXY_HOPS: '1',
  OUTBOX_POLL_INTERVAL_MS: '200',
  FANOUT_GROUP_ID: `hookline-fanout-metrics-${run}`,
  AUDIT_GROUP_ID: `hookline-audit-metrics-${run}`,
  AUDIT_FLUSH_MS: '200',
  AUDIT_STUFFING_FAILURES: '4',
  AUDIT_STUFFING_IPS: '3',
  WEBHOOK_QUEUE: `hookline-metrics-${run}`,
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
  WEBHOOK_RETRY_SCHEDULE: '1,1',
  // Its endpoints fail on purpose so that each outcome is counted: the breaker (tested on its own, in
  // flow-limits and flow-control) stays closed, so every delivery ends on its schedule.
  WEBHOOK_BREAKER_FAILURES: '1000',
  WEBHOOK_RETRY_JITTER: '0',
  // Its sweeper would re-queue other tests' overdue deliveries into this test's queue.
  DELIVERY_SWEEP_INTERVAL_SECONDS: '0',
  LOGIN_MAX_FAILURES_PER_ACCOUNT_IP: '2',
};

const { sql, end } = createDatabase({
  url: testConfig.DATABASE_URL,
  poolSize: 2,
  applicationName: 'test-observability',
});
const kafka = createKafka({
  brokers: testConfig.KAFKA_BROKERS,
  clientId: 'test-observability',
  logger: testLogger,
});
const admin = kafka.admin();
const processes: Partial<Record<ProcessName | 'api2', SpawnedProcess>> = {};
const receivers: Receiver[] = [];
const subscriptions = { ok: '', flaky: '', dead: '', ssrf: '' };
let startedAt = 0;
let since: Date;
let adminToken = '';

/** Prometheus scraped each of the five processes successfully last time. */
const allUp = async () => {
  const up = await promQuery('up{job="hookline"}');
  return (Object.keys(PORTS) as ProcessName[]).every((name) =>
    up.some((v) => v.metric.process === name && v.value[1] === '1'),
  );
};

const url = (name: ProcessName | 'api2') => {
  const spawned = processes[name];
  if (!spawned) throw new Error(`${name} is not running`);
  return spawned.baseUrl;
};

beforeAll(async () => {
  // Fresh consumer groups that start at the end of every topic: only this test's events count.
  await admin.connect();
  for (const groupId of [env.FANOUT_GROUP_ID, env.AUDIT_GROUP_ID])
    await startGroupAtEnd(kafka, groupId, allTopics);
  const [now] = await sql<{ now: Date }[]>`SELECT now() AS now`;
  since = now?.now ?? new Date();

  const started = await Promise.all(
    (Object.entries(PORTS) as [ProcessName, number][]).map(async ([name, port]) => {
      const extra: Record<string, string> = name === 'api' ? { ADMIN_EMAIL, ADMIN_PASSWORD } : {};
      return [name, await spawnProcess(name, { ...env, ...extra, PORT: String(port) })] as const;
    }),
  );
  for (const [name, spawned] of started) processes[name] = spawned;
  // A second API process: the active-sessions gauge must read the same from every one.
  processes.api2 = await spawnProcess('api', env);

  // Three receivers: one answering 200, one failing each delivery's first attempt, one always 500.
  const ok = await startReceiver(() => ({ status: 200 }));
  const seen = new Set<string>();
  const flaky = await startReceiver((request) => {
    const id = String(request.headers['webhook-id']);
    if (seen.has(id)) return { status: 200 };
    seen.add(id);
    return { status: 500 };
  });
  const dead = await startReceiver(() => ({ status: 500 }));
  receivers.push(ok, flaky, dead);

  const client = apiClient(url('api'));
  const login = await client.call<Tokens>('POST', '/v1/auth/login', {
    body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD },
  });
  expect(login.status).toBe(200);
  adminToken = login.body.access_token;
  // A fourth, to a private address outside WEBHOOK_ALLOWED_CIDRS: every attempt is refused by the
  // SSRF guard, nothing is sent.
  // The healthy one is rate-limited (2/s): the workload's bursts are deferred by the rate, so the
  // flow-control panel has data, and every delivery still ends within seconds.
  for (const [key, target, eventTypes, limits] of [
    ['ok', ok.url, ['user.*'], { rate_limit_per_second: 2 }],
    ['flaky', flaky.url, ['user.registered'], {}],
    ['dead', dead.url, ['user.login'], {}],
    ['ssrf', 'http://10.0.0.1:9/hooks', ['user.registered'], {}],
  ] as const) {
    const created = await client.call<{ id: string }>('POST', '/v1/webhooks/subscriptions', {
      token: adminToken,
      body: { url: target, event_types: eventTypes, description: `observability test (${key})`, ...limits },
    });
    expect(created.status).toBe(201);
    subscriptions[key] = created.body.id;
  }
  // The fan-out's subscription index follows changes through NOTIFY: it holds these four once it holds
  // as many subscriptions as the table (nothing else changes them while this file runs).
  const fanoutIndexed = async () => {
    const [table] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM webhook_subscriptions`;
    const indexed = (await scrape(url('fanout'))).value(metricNames.webhookIndexedSubscriptions);
    return indexed === table?.n;
  };
  await eventually(fanoutIndexed, 10_000, "the fan-out's index to hold the subscriptions");
  // As in production, Prometheus has scraped every process before the traffic: its first samples are
  // the counters at 0, so that rate() and increase() see every event of the workload.
  await eventually(allUp, 30_000, 'Prometheus to scrape all five processes');
  startedAt = Date.now() / 1_000;
}, 150_000);

afterAll(async () => {
  await Promise.all(Object.values(processes).map((spawned) => spawned?.terminate()));
  await Promise.all(receivers.map((receiver) => receiver.close()));
  const ids = Object.values(subscriptions).filter(Boolean);
  // Deleting the subscriptions deletes their deliveries and attempts.
  if (ids.length) await sql`DELETE FROM webhook_subscriptions WHERE id IN ${sql(ids)}`;
  const connection = createRedis(testConfig.REDIS_URL, 'queue', 'test');
  const queue = new Queue(env.WEBHOOK_QUEUE, { connection });
  await queue.obliterate({ force: true }).catch(() => {});
  await queue.close();
  connection.disconnect();
  await admin.deleteGroups([env.FANOUT_GROUP_ID, env.AUDIT_GROUP_ID]).catch(() => {});
  await admin.disconnect();
  await end({ timeout: 5 });
});

describe('the metrics match what happened', () => {
  it('after N failed logins the failed-login counter rose by N, by reason; the audit raised one alert', async () => {
    const victim = await signedUpUser(url('api'), 'metrics-victim');
    const before = await scrape(url('api'));
    const attempt = (client = apiClient(url('api'), { ip: randomIp() })) =>
      client
        .call('POST', '/v1/auth/login', { body: { email: victim.email, password: 'not-the-password' } })
        .then((answer) => answer.status);
    const statuses: number[] = [];
    // Four IPs once each (credential stuffing for the audit worker), then one IP three times: the
    // third is refused by the per-account-and-IP limit (2 failures).
    for (let i = 0; i < 4; i++) statuses.push(await attempt());
    const oneIp = apiClient(url('api'));
    for (let i = 0; i < 3; i++) statuses.push(await attempt(oneIp));
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 429]);
    const N = statuses.length;

    const after = await scrape(url('api'));
    const delta = (name: string, labels: Record<string, string> = {}) =>
      after.value(name, labels) - before.value(name, labels);
    expect(delta('hookline_auth_failed_logins_total')).toBe(N);
    expect(delta('hookline_auth_failed_logins_total', { reason: 'bad_credentials' })).toBe(6);
    expect(delta('hookline_auth_failed_logins_total', { reason: 'locked' })).toBe(1);
    expect(delta('hookline_auth_logins_total', { result: 'failure' })).toBe(6);
    expect(delta('hookline_auth_logins_total', { result: 'locked' })).toBe(1);
    expect(delta('hookline_auth_rate_limited_total', { limit: 'account_ip' })).toBe(1);
    expect(delta('hookline_auth_rate_limited_total')).toBe(1);

    await eventually(
      async () =>
        (await scrape(url('audit'))).value('hookline_audit_security_alerts_total', {
          kind: 'credential_stuffing',
        }) === 1,
      30_000,
      'the audit worker to raise one credential-stuffing alert',
    );
  });

  it('after K sessions were created and J revoked, the active-sessions gauge moved by K − J in every API process', async () => {
    const activeInDb = async () => {
      const [row] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM sessions WHERE revoked_at IS NULL AND expires_at > now()`;
      return row?.n ?? 0;
    };
    const gauge = async (name: 'api' | 'api2') =>
      (await scrape(url(name))).value('hookline_auth_active_sessions');
    // The baseline: the gauge agrees with the database (it is refreshed at most every 5 s).
    let baseline = -1;
    await eventually(
      async () => {
        baseline = await gauge('api');
        return baseline === (await activeInDb());
      },
      20_000,
      'the gauge to agree with PostgreSQL',
    );
    const before = await scrape(url('api'));

    const email = uniqueEmail('metrics-sessions');
    const client = apiClient(url('api'));
    expect(
      (await client.call('POST', '/v1/auth/register', { body: { email, password: 'plum-kettle-orbit-97' } }))
        .status,
    ).toBe(201);
    const devices: Tokens[] = [];
    for (let i = 0; i < 4; i++) {
      const login = await apiClient(url('api')).call<Tokens>('POST', '/v1/auth/login', {
        body: { email, password: 'plum-kettle-orbit-97' },
      });
      expect(login.status).toBe(200);
      devices.push(login.body);
    }
    const K = devices.length;
    const [first, second, third] = devices as [Tokens, Tokens, Tokens, Tokens];
    const revocations = [
      await client.call('POST', '/v1/auth/logout', { token: first.access_token }),
      await client.call('DELETE', `/v1/me/sessions/${third.session_id}`, { token: second.access_token }),
      // Revokes every other session still open: the fourth device's.
      await client.call('DELETE', '/v1/me/sessions', { token: second.access_token }),
    ].map((answer) => answer.status);
    expect(revocations).toEqual([204, 204, 204]);
    const J = 3;
    const refreshed = await client.call('POST', '/v1/auth/refresh', {
      body: { refresh_token: second.refresh_token },
    });
    expect(refreshed.status).toBe(200);

    expect(await activeInDb()).toBe(baseline + K - J);
    for (const name of ['api', 'api2'] as const) {
      await eventually(
        async () => (await gauge(name)) === baseline + K - J,
        20_000,
        `the gauge of ${name} to move by K − J = ${K - J}`,
      );
    }
    const after = await scrape(url('api'));
    const delta = (name: string, labels: Record<string, string> = {}) =>
      after.value(name, labels) - before.value(name, labels);
    expect(delta('hookline_auth_registrations_total')).toBe(1);
    expect(delta('hookline_auth_logins_total', { result: 'success' })).toBe(K);
    expect(delta('hookline_auth_session_revocations_total', { reason: 'logout' })).toBe(1);
    expect(delta('hookline_auth_session_revocations_total', { reason: 'revoked_by_user' })).toBe(1);
    expect(delta('hookline_auth_session_revocations_total', { reason: 'other_sessions_revoked' })).toBe(1);
    expect(delta('hookline_auth_session_revocations_total')).toBe(J);
    expect(delta('hookline_auth_token_refreshes_total', { result: 'success' })).toBe(1);
  });

  it('after M deliveries the outcome counters rose by M, as the database records each delivery and attempt', async () => {
    // Wait until everything the workload caused is done: outbox published, fan-out caught up, and every
    // delivery made since the start final (the always-failing one dies after 3 attempts, 1 s apart).
    const fanoutLag = async () => {
      const committed = await admin.fetchOffsets({ groupId: env.FANOUT_GROUP_ID, topics: allTopics });
      let lag = 0;
      for (const { topic, partitions } of committed) {
        for (const end of await admin.fetchTopicOffsets(topic)) {
          const done = partitions.find((p) => p.partition === end.partition);
          lag += Number(end.high) - Math.max(0, Number(done?.offset ?? 0));
        }
      }
      return lag;
    };
    await eventually(
      async () => {
        const [outbox] = await sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL AND dead_at IS NULL`;
        const [open] = await sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM webhook_deliveries
          WHERE created_at >= ${since} AND status NOT IN ('succeeded', 'dead')`;
        return outbox?.n === 0 && (await fanoutLag()) === 0 && open?.n === 0;
      },
      60_000,
      'the workload to be fully delivered',
    );

    const [deliveries] = await sql<{ total: number; succeeded: number; dead: number }[]>`
      SELECT count(*)::int AS total,
             count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded,
             count(*) FILTER (WHERE status = 'dead')::int AS dead
      FROM webhook_deliveries WHERE created_at >= ${since}`;
    const [attempts] = await sql<
      { total: number; ok: number; server_error: number; no_answer: number; ssrf: number }[]
    >`
      SELECT count(*)::int AS total,
             count(*) FILTER (WHERE a.status_code BETWEEN 200 AND 299)::int AS ok,
             count(*) FILTER (WHERE a.status_code BETWEEN 500 AND 599)::int AS server_error,
             count(*) FILTER (WHERE a.status_code IS NULL)::int AS no_answer,
             count(*) FILTER (WHERE a.error_kind = 'ssrf_blocked')::int AS ssrf
      FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
      WHERE d.created_at >= ${since}`;
    const bySubscription = await sql<
      { subscription_id: string; status: string; n: number; attempts: number }[]
    >`
      SELECT subscription_id, status, count(*)::int AS n, sum(attempts)::int AS attempts
      FROM webhook_deliveries WHERE subscription_id IN ${sql(Object.values(subscriptions))}
      GROUP BY subscription_id, status`;
    const M = deliveries?.total ?? 0;
    // The workload's shape: the flaky subscription's deliveries succeed at the second attempt, the
    // dead one's all die after three, the 200 one's succeed at once.
    const mine = (id: string) => bySubscription.filter((row) => row.subscription_id === id);
    const flakyRows = mine(subscriptions.flaky);
    expect(flakyRows).toHaveLength(1);
    expect(flakyRows[0]).toMatchObject({ status: 'succeeded' });
    expect(flakyRows[0]?.n).toBeGreaterThanOrEqual(2); // the two users the workload registered
    expect(flakyRows[0]?.attempts).toBe((flakyRows[0]?.n ?? 0) * 2);
    const deadRows = mine(subscriptions.dead);
    expect(deadRows).toHaveLength(1);
    expect(deadRows[0]).toMatchObject({ status: 'dead' });
    expect(deadRows[0]?.attempts).toBe((deadRows[0]?.n ?? 0) * 3);
    expect(mine(subscriptions.ok).map((row) => row.status)).toEqual(['succeeded']);
    const ssrfRows = mine(subscriptions.ssrf);
    expect(ssrfRows).toEqual([{ ...ssrfRows[0], status: 'dead', attempts: (ssrfRows[0]?.n ?? 0) * 3 }]);
    expect(attempts?.ssrf).toBeGreaterThanOrEqual((ssrfRows[0]?.n ?? 0) * 3);
    expect(M).toBeGreaterThanOrEqual(
      (flakyRows[0]?.n ?? 0) +
        (deadRows[0]?.n ?? 0) +
        (mine(subscriptions.ok)[0]?.n ?? 0) +
        (ssrfRows[0]?.n ?? 0),
    );

    const delivery = await scrape(url('delivery'));
    const fanout = await scrape(url('fanout'));
    const outcome = (name: string) => delivery.value('hookline_webhook_deliveries_total', { outcome: name });
    expect(outcome('succeeded') + outcome('dead')).toBe(M);
    expect(outcome('succeeded')).toBe(deliveries?.succeeded);
    expect(outcome('dead')).toBe(deliveries?.dead);
    expect(outcome('retrying')).toBe((attempts?.total ?? 0) - M);
    expect(delivery.value('hookline_webhook_attempts_total')).toBe(attempts?.total);
    expect(delivery.value('hookline_webhook_attempts_total', { status_class: '2xx' })).toBe(attempts?.ok);
    expect(delivery.value('hookline_webhook_attempts_total', { status_class: '5xx' })).toBe(
      attempts?.server_error,
    );
    expect(delivery.value('hookline_webhook_attempts_total', { status_class: 'error' })).toBe(
      attempts?.no_answer,
    );
    expect(delivery.value('hookline_webhook_ssrf_refusals_total')).toBe(attempts?.ssrf);
    expect(delivery.value('hookline_webhook_e2e_latency_seconds_count')).toBe(deliveries?.succeeded);
    expect(fanout.value('hookline_webhook_deliveries_created_total')).toBe(M);

    // The failing-deliveries gauges agree with the database: the total, and the top subscriptions.
    const failingInDb = async () => {
      const rows = await sql<{ subscription_id: string; status: string; n: number }[]>`
        SELECT subscription_id, status, count(*)::int AS n FROM webhook_deliveries
        WHERE status IN ('retrying', 'dead') GROUP BY subscription_id, status`;
      const totals = new Map<string, number>();
      for (const row of rows) totals.set(row.subscription_id, (totals.get(row.subscription_id) ?? 0) + row.n);
      const top = [...totals]
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .slice(0, TOP_FAILING_SUBSCRIPTIONS)
        .flatMap(([id]) =>
          ['dead', 'retrying'].map(
            (status) =>
              `${id} ${status} ${rows.find((r) => r.subscription_id === id && r.status === status)?.n ?? 0}`,
          ),
        )
        .sort();
      const dead = rows.filter((row) => row.status === 'dead').reduce((sum, row) => sum + row.n, 0);
      return { top, dead, subscriptions: totals.size };
    };
    let inDb = await failingInDb();
    await eventually(
      async () => {
        inDb = await failingInDb();
        const now = await scrape(url('delivery'));
        const series = now
          .series('hookline_webhook_subscription_failing_deliveries')
          .map((s) => `${s.labels.subscription_id} ${s.labels.status} ${s.value}`)
          .sort();
        return (
          now.value('hookline_webhook_failing_deliveries', { status: 'dead' }) === inDb.dead &&
          JSON.stringify(series) === JSON.stringify(inDb.top)
        );
      },
      30_000,
      'the failing-deliveries gauges to agree with PostgreSQL',
    );
    if (inDb.subscriptions <= TOP_FAILING_SUBSCRIPTIONS)
      expect(inDb.top.join('\n')).toContain(subscriptions.dead);
  });
});

describe("the stack's Prometheus", () => {
  it('scrapes every process with up == 1', async () => {
    await eventually(allUp, 30_000, 'Prometheus to see all five processes up');
  });

  it('answers every panel query of every dashboard with data', async () => {
    // First, Prometheus has scraped the delivery process since the workload ended and its gauges of
    // failing deliveries were refreshed (the previous test waited for that).
    const delivery = await scrape(url('delivery'));
    const delivered = delivery.value('hookline_webhook_deliveries_total', { outcome: 'succeeded' });
    const failingSeries = delivery.series('hookline_webhook_subscription_failing_deliveries').length;
    expect(delivered).toBeGreaterThan(0);
    expect(failingSeries).toBeGreaterThan(0);
    await eventually(
      async () => {
        const [seen] = await promQuery(
          'sum(hookline_webhook_deliveries_total{process="delivery",outcome="succeeded"})',
        );
        const [series] = await promQuery(
          'count(hookline_webhook_subscription_failing_deliveries{process="delivery"})',
        );
        return Number(seen?.value[1]) === delivered && Number(series?.value[1]) === failingSeries;
      },
      30_000,
      'Prometheus to scrape the workload',
    );

    // Each query is run as Grafana runs it, over a time range: from the start of the workload to now.
    // Every target must return points, and every panel must show something other than 0, but for
    // the panels that are 0 on a healthy platform once it has caught up (below, with the reason).
    const mayBeZero = new Map([
      ['Outbox backlog', 'the relay publishes within 200 ms: a 5 s scrape rarely sees a backlog'],
      ['Jobs waiting', 'workers take jobs at once'],
      ['Queue depth, by state', 'retries wait 1 s only: a 5 s scrape may miss them'],
      ['Consumer lag, by group', 'the consumers keep up'],
      ['Audit insert errors and buffered rows', 'ClickHouse is up; buffers flush every 200 ms'],
      ['Outbox publish errors and rows set aside (last hour)', 'Kafka is up'],
    ]);
    // Steps end now, so the last point sees the latest scrape.
    const end = Date.now() / 1_000;
    const start = end - Math.ceil((end - startedAt) / 5) * 5;
    const folder = new URL('../../grafana/dashboards/', import.meta.url);
    const empty: string[] = [];
    let queries = 0;
    for (const file of readdirSync(folder).filter((name) => name.endsWith('.json'))) {
      const dashboard = JSON.parse(readFileSync(new URL(file, folder), 'utf8')) as {
        panels: { title: string; targets: { expr: string; refId: string }[] }[];
      };
      for (const panel of dashboard.panels) {
        let highest = Number.NEGATIVE_INFINITY;
        for (const target of panel.targets) {
          // Grafana's $__rate_interval: four scrape intervals at least (the stack scrapes every 5 s).
          const expr = target.expr.replaceAll('$__rate_interval', '1m');
          expect(expr, `${file} / ${panel.title}: a Grafana variable this test does not know`).not.toContain(
            '$',
          );
          const points = (await promQueryRange(expr, { start, end, stepSeconds: 5 }))
            .flatMap((series) => series.values.map(([, value]) => Number(value)))
            .filter(Number.isFinite);
          queries += 1;
          if (points.length === 0)
            empty.push(`${file} / ${panel.title} / ${target.refId}: no data (${expr})`);
          highest = Math.max(highest, ...points);
        }
        if (highest === 0 && !mayBeZero.has(panel.title)) empty.push(`${file} / ${panel.title}: only zeros`);
      }
    }
    expect(queries).toBeGreaterThan(40);
    expect(empty).toEqual([]);
  });
});
