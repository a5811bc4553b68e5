import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createClickHouse } from '../../src/clickhouse/client.js';
import { metricNames } from '../../src/metrics/names.js';
import {
  apiClient,
  STRONG_PASSWORD,
  signedUpUser,
  TEST_ADMIN_PASSWORD,
  type Tokens,
  uniqueEmail,
} from '../helpers/api.js';
import { testConfig } from '../helpers/env.js';
import { type EventRecorder, recordEvents } from '../helpers/events.js';
import { scrape } from '../helpers/metrics.js';
import { type OwnPipeline, ownPipeline } from '../helpers/pipeline.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { type SpawnedProcess, spawnProcess } from '../helpers/process.js';

const run = promisify(execFile);
const stackScript = fileURLToPath(new URL('../../scripts/stack.sh', import.meta.url));
const ADMIN_EMAIL = uniqueEmail('audit-chaos-admin');
const ADMIN_PASSWORD = TEST_ADMIN_PASSWORD;
const auditEnv = {
  AUDIT_FLUSH_MS: '100',
  AUDIT_STUFFING_FAILURES: '8',
  AUDIT_STUFFING_IPS: '3',
  AUDIT_NEW_IP_AFTER_FAILURES: '3',
  AUDIT_WINDOW_SECONDS: '600',
};
const clickhouse = createClickHouse({ url: testConfig.CLICKHOUSE_URL });
const startedAt = new Date();
let platform: TestPlatform;
let audit: SpawnedProcess | undefined;
let recorder: EventRecorder;
let pipeline: OwnPipeline;

beforeAll(async () => {
  recorder = await recordEvents();
  pipeline = await ownPipeline('audit-chaos');
  // API and relay here; the audit worker in a process of its own, to be killed.
  platform = await startPlatform({ ADMIN_EMAIL, ADMIN_PASSWORD, REGISTER_MAX_PER_IP: '100000' });
  audit = await spawnProcess('audit', { ...auditEnv, ...pipeline.env });
});
afterAll(async () => {
  // ClickHouse back first (a failed outage test may have left it down), then the worker stopped, not
  // killed: it flushes and leaves its consumer group, which can then be removed.
  await run('bash', [stackScript, 'up', 'clickhouse'], { timeout: 120_000 });
  await audit?.terminate('SIGTERM');
  await platform?.stop();
  await recorder?.stop();
  await clickhouse.close();
  await pipeline?.remove();
});

/**
 * How many rows and distinct events ClickHouse holds for these users: once it holds at least
 * `expected` events, or when the time is up.
 */
async function storedOnce(userIds: string[], expected: number, timeoutMs = 60_000) {
  let counts = { rows: 0, events: 0 };
  await vi
    .waitFor(
      async () => {
        const result = await clickhouse.query({
          query: `SELECT count() AS rows, uniqExact(event_id) AS events FROM hookline.audit_events FINAL
            WHERE user_id IN (${userIds.map((id) => `'${id}'`).join(',')})`,
          format: 'JSONEachRow',
        });
        const [row] = await result.json<{ rows: string; events: string }>();
        counts = { rows: Number(row?.rows ?? 0), events: Number(row?.events ?? 0) };
        expect(counts.events).toBeGreaterThanOrEqual(expected);
      },
      { timeout: timeoutMs, interval: 250 },
    )
    // The caller asserts the counts (rows and events), whatever they are when the time is up.
    .catch(() => {});
  return counts;
}

/**
 * Waits until every event written so far is stored and analysed: the relay has published every outbox
 * row of this file's time, and the audit worker has committed (stored, then analysed) all of them.
 */
async function auditCaughtUp() {
  await vi.waitFor(
    async () => {
      const [pending] = await platform.running.deps.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox
        WHERE published_at IS NULL AND dead_at IS NULL AND created_at >= ${startedAt}`;
      expect(pending?.n).toBe(0);
      expect(await pipeline.lag('audit')).toBe(0);
    },
    { timeout: 60_000, interval: 100 },
  );
}

/** A counter of the audit worker's /metrics. */
const auditCounter = async (name: string) => (await scrape(audit?.baseUrl ?? '')).value(name);

async function register(count: number, label: string) {
  const client = apiClient(platform.baseUrl);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const answer = await client.call<{ id: string }>('POST', '/v1/auth/register', {
      body: { email: uniqueEmail(label), password: STRONG_PASSWORD },
    });
    ids.push(answer.body.id);
  }
  return ids;
}

describe('suspicious activity', () => {
  it('a credential-stuffing burst produces one security.alert on Kafka', async () => {
    const victim = await signedUpUser(platform.baseUrl, 'victim');
    for (let i = 0; i < 12; i++) {
      await apiClient(platform.baseUrl).call('POST', '/v1/auth/login', {
        body: { email: victim.email, password: `stuffed-${i}-guess` },
      });
    }
    const alerts = await recorder.waitFor(
      (e) =>
        e.envelope.type === 'security.alert' && (e.envelope.data as { email: string }).email === victim.email,
      { timeoutMs: 30_000 },
    );
    // Every login of the burst analysed, and each alert it raised written to the outbox: one.
    await auditCaughtUp();
    const [written] = await platform.running.deps.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox
      WHERE event_type = 'security.alert' AND payload->'data'->>'email' = ${victim.email}`;
    expect(written?.n).toBe(1);
    const all = recorder.events.filter(
      (e) =>
        e.envelope.type === 'security.alert' &&
        (e.envelope.data as { kind: string; email: string }).email === victim.email,
    );
    expect(all).toHaveLength(1);
    expect(alerts[0]?.topic).toBe('platform-events');
    expect(alerts[0]?.envelope.data).toMatchObject({
      kind: 'credential_stuffing',
      evidence: { window_seconds: 600 },
    });
  });

  it('a login from a new IP right after failures raises new_ip_after_failures', async () => {
    const user = await signedUpUser(platform.baseUrl, 'newip');
    const attacker = apiClient(platform.baseUrl);
    for (let i = 0; i < 3; i++)
      await attacker.call('POST', '/v1/auth/login', {
        body: { email: user.email, password: `wrong-${i}-guess` },
      });
    await attacker.call('POST', '/v1/auth/login', { body: { email: user.email, password: user.password } });
    const [alert] = await recorder.waitFor(
      (e) =>
        e.envelope.type === 'security.alert' &&
        (e.envelope.data as { kind: string; email: string }).email === user.email,
      { timeoutMs: 30_000 },
    );
    expect(alert?.envelope.data).toMatchObject({
      kind: 'new_ip_after_failures',
      evidence: { ip: attacker.ip },
    });
  });
});

describe('daily statistics', () => {
  it('match the counts of a scripted run', async () => {
    const admin = apiClient(platform.baseUrl);
    const token = (
      await admin.call<Tokens>('POST', '/v1/auth/login', {
        body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD },
      })
    ).body.access_token;
    const today = new Date().toISOString().slice(0, 10);
    const path = `/v1/audit/stats/daily?from=${today}T00:00:00Z&to=${today}T23:59:59Z`;
    type Daily = { days: { registrations: number; logins: number; failed_logins: number }[] };
    await auditCaughtUp(); // earlier events (the admin's login above) counted before, not after
    const before = (await admin.call<Daily>('GET', path, { token })).body.days[0];

    const users = await Promise.all([1, 2, 3].map(() => signedUpUser(platform.baseUrl, 'daily')));
    for (const user of users.slice(0, 2)) {
      await user.client.call('POST', '/v1/auth/login', {
        body: { email: user.email, password: 'wrong-password-1' },
      });
    }
    await storedOnce(
      users.map((u) => u.id),
      8,
    );
    const after = (await admin.call<Daily>('GET', path, { token })).body.days[0];
    // The admin's own login above is one of the logins counted before.
    expect((after?.registrations ?? 0) - (before?.registrations ?? 0)).toBe(3);
    expect((after?.logins ?? 0) - (before?.logins ?? 0)).toBe(3);
    expect((after?.failed_logins ?? 0) - (before?.failed_logins ?? 0)).toBe(2);
  });
});

describe('the audit worker under failure', () => {
  it('killed mid-batch and restarted: every event is stored exactly once, as queries see it', async () => {
    const inserted = await auditCounter(metricNames.auditRowsInserted);
    const burst = register(60, 'audit-kill');
    // Killed once it has stored part of the burst, while the rest is still being registered.
    await vi.waitFor(
      async () => expect(await auditCounter(metricNames.auditRowsInserted)).toBeGreaterThan(inserted),
      { timeout: 30_000, interval: 20 },
    );
    audit?.child.kill('SIGKILL');
    await audit?.terminate();
    const ids = await burst;
    audit = await spawnProcess('audit', { ...auditEnv, ...pipeline.env });
    expect(await storedOnce(ids, 60)).toEqual({ rows: 60, events: 60 });
  }, 120_000);

  it('ClickHouse stopped during traffic, for 8 failed inserts: after it returns, no event is missing', async () => {
    const failed = await auditCounter(metricNames.auditInsertErrors);
    await run('bash', [stackScript, 'down', 'clickhouse'], { timeout: 120_000 });
    const ids = await register(40, 'audit-outage');
    // Down until the worker has failed 8 inserts of these events: its back-off (250 ms doubling) has
    // reached its 5 s cap, and the outage (at least 17.75 s) has outlasted its 15 s consumer session.
    await vi.waitFor(
      async () =>
        expect(await auditCounter(metricNames.auditInsertErrors)).toBeGreaterThanOrEqual(failed + 8),
      { timeout: 60_000, interval: 250 },
    );
    await run('bash', [stackScript, 'up', 'clickhouse'], { timeout: 120_000 });
    expect(await storedOnce(ids, 40, 90_000)).toEqual({ rows: 40, events: 40 });
  }, 240_000);
});
