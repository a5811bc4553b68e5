import type { Admin, Kafka } from 'kafkajs';
import postgres from 'postgres';
import { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDetector } from '../../src/audit/detector.js';
import { AuditWorker } from '../../src/audit/worker.js';
import { type ClickHouseClient, createClickHouse } from '../../src/clickhouse/client.js';
import type { Envelope } from '../../src/events/catalog.js';
import { buildEvent, messageKeyOf } from '../../src/events/envelope.js';
import { createKafka } from '../../src/kafka/client.js';
import { ensureTopics } from '../../src/kafka/topics.js';
import { createRedis } from '../../src/redis.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { testLogger } from '../helpers/logger.js';

// The audit worker and its detector as the audit process wires them, over the real stack: events on a
// Kafka topic of this file's own, its own ClickHouse database and consumer groups, and the alerts
// written to an outbox table in a PostgreSQL schema of its own (so no relay publishes them).
const suffix = uniqueSuffix();
const database = `hookline_test_detector_${suffix}`;
const schema = `test_audit_detector_${suffix}`;
const clickhouse = createClickHouse({ url: testConfig.CLICKHOUSE_URL });
const redis = createRedis(testConfig.REDIS_URL, 'command', 'test-audit-detector');
const kafka: Kafka = createKafka({
  brokers: testConfig.KAFKA_BROKERS,
  clientId: 'test-audit-detector',
  logger: testLogger,
});
const admin: Admin = kafka.admin();
const sql = postgres(testConfig.DATABASE_URL, {
  max: 2,
  onnotice: () => {},
  connection: { search_path: schema },
});
const topics: string[] = [];
const groups: string[] = [];
const alertKeys: string[] = [];
const workers: AuditWorker[] = [];

beforeAll(async () => {
  await admin.connect();
  await sql.unsafe(`CREATE SCHEMA ${schema}`);
  await sql.unsafe(`CREATE TABLE ${schema}.outbox (LIKE public.outbox INCLUDING ALL)`);
});
afterAll(async () => {
  for (const worker of workers) await worker.stop().catch(() => {});
  if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => {});
  if (groups.length > 0) await admin.deleteGroups(groups).catch(() => {});
  await admin.disconnect();
  if (alertKeys.length > 0) await redis.del(...alertKeys);
  redis.disconnect();
  await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await sql.end();
  await clickhouse.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await clickhouse.close();
});

interface Analysis {
  rows: number;
  queries: string[];
}

/**
 * Starts an audit worker on a new topic with the detector as its `afterInsert`, as the audit plan
 * does; every ClickHouse query the detector makes is recorded per analysed batch. It inserts when
 * `batchSize` rows are waiting (the timer is far off), so a send of that many events is one batch.
 */
async function startAudit(options: {
  truncateIp: boolean;
  batchSize: number;
  rules: { stuffingFailures: number; stuffingIps: number; newIpAfterFailures: number };
}) {
  const topic = `test-audit-detector-${topics.length}-${suffix}`;
  topics.push(topic);
  groups.push(topic);
  await ensureTopics(admin, { topics: [topic], partitions: 1, replicationFactor: 1, logger: testLogger });
  const queries: string[] = [];
  const recording = {
    query: (params: Parameters<ClickHouseClient['query']>[0]) => {
      queries.push(params.query);
      return clickhouse.query(params);
    },
  } as unknown as ClickHouseClient;
  const detector = createDetector({
    clickhouse: recording,
    database,
    sql,
    redis,
    logger: testLogger,
    registry: new Registry(),
    windowSeconds: 3_600,
    ...options.rules,
  });
  const analyses: Analysis[] = [];
  const worker = new AuditWorker({
    kafka,
    clickhouse,
    database,
    groupId: topic,
    topics: [topic],
    batchSize: options.batchSize,
    flushMs: 60_000,
    truncateIp: options.truncateIp,
    retentionDays: 365,
    logger: testLogger,
    registry: new Registry(),
    afterInsert: async (rows) => {
      const before = queries.length;
      await detector(rows);
      analyses.push({ rows: rows.length, queries: queries.slice(before) });
    },
  });
  workers.push(worker);
  await worker.start();

  const producer = kafka.producer();
  /** Sends the events and waits until the detector has analysed all of them. */
  async function analyse(events: Envelope[]): Promise<Analysis[]> {
    for (const event of events) {
      const email = (event.data as { email?: string }).email;
      if (email)
        alertKeys.push(
          `hookline:alert:credential_stuffing:${email}`,
          `hookline:alert:new_ip_after_failures:${email}`,
        );
    }
    const seen = analyses.length;
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: events.map((event) => ({ key: messageKeyOf(event), value: JSON.stringify(event) })),
    });
    await producer.disconnect();
    const done = () => analyses.slice(seen).reduce((sum, analysis) => sum + analysis.rows, 0);
    await vi.waitFor(
      () => {
        if (done() < events.length) throw new Error(`analysed ${done()} of ${events.length} events`);
      },
      { timeout: 20_000, interval: 50 },
    );
    return analyses.slice(seen);
  }
  return { analyse };
}

const now = Date.now();
const minutesAgo = (minutes: number) => new Date(now - minutes * 60_000);
const login = (user: string, email: string, ip: string, minutes: number) =>
  buildEvent({
    type: 'user.login',
    userId: user,
    actor: { type: 'user', id: user },
    meta: { ip, userAgent: 'test', requestId: null },
    data: { session_id: uuidv7(), email },
    occurredAt: minutesAgo(minutes),
  });
const failure = (user: string | null, email: string, ip: string, minutes: number) =>
  buildEvent({
    type: 'user.login.failed',
    userId: user,
    actor: user ? { type: 'user', id: user } : { type: 'system', id: null },
    meta: { ip, userAgent: 'test', requestId: null },
    data: { email, reason: 'bad_credentials' },
    occurredAt: minutesAgo(minutes),
  });

async function alertsFor(emails: string[]) {
  const rows = await sql<{ payload: Envelope }[]>`
    SELECT payload FROM outbox WHERE event_type = 'security.alert' AND payload->'data'->>'email' = ANY(${emails})
    ORDER BY payload->'data'->>'email'`;
  return rows.map((row) => row.payload.data);
}

describe('the audit detector', () => {
  it('with AUDIT_TRUNCATE_IP, compares a login’s stored IP with stored IPs: a known network does not alert, a new one does', async () => {
    const audit = await startAudit({
      truncateIp: true,
      batchSize: 10,
      rules: { stuffingFailures: 100, stuffingIps: 3, newIpAfterFailures: 3 },
    });
    const [known, moved] = [uuidv7(), uuidv7()];
    const knownEmail = `known-ip-${suffix}@example.com`;
    const movedEmail = `new-ip-${suffix}@example.com`;
    const events = [known, moved].flatMap((user) => {
      const email = user === known ? knownEmail : movedEmail;
      return [
        login(user, email, user === known ? '203.0.113.7' : '203.0.113.8', 30),
        failure(user, email, '198.51.100.1', 20),
        failure(user, email, '198.51.100.2', 15),
        failure(user, email, '198.51.100.3', 10),
        login(user, email, user === known ? '203.0.113.7' : '192.0.2.55', 5),
      ];
    });
    await audit.analyse(events);
    expect(await alertsFor([knownEmail, movedEmail])).toEqual([
      {
        kind: 'new_ip_after_failures',
        email: movedEmail,
        // As stored: the three failing IPs are one /24, the new one is shown as its /24.
        evidence: { failures: 3, ips: 1, ip: '192.0.2.0', window_seconds: 3_600 },
      },
    ]);
  });

  it('analyses a batch with a constant number of ClickHouse queries, each bounded in time', async () => {
    const audit = await startAudit({
      truncateIp: false,
      batchSize: 14,
      rules: { stuffingFailures: 4, stuffingIps: 3, newIpAfterFailures: 3 },
    });
    const victim = uuidv7();
    const victimEmail = `stuffed-${suffix}@example.com`;
    const others = Array.from({ length: 6 }, (_, i) => `unknown-${i}-${suffix}@example.com`);
    const users = Array.from({ length: 4 }, () => uuidv7());
    const events = [
      ...['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.1'].map((ip, i) =>
        failure(victim, victimEmail, ip, 20 - i),
      ),
      ...others.map((email, i) => failure(null, email, `198.51.100.${20 + i}`, 12)),
      ...users.map((user, i) => login(user, `user-${i}-${suffix}@example.com`, `192.0.2.${i + 1}`, 3)),
    ];
    const analyses = await audit.analyse(events);
    expect(analyses.map((analysis) => analysis.rows)).toEqual([14]);
    const queries = analyses[0]?.queries ?? [];
    expect(queries.length).toBeLessThanOrEqual(3);
    for (const query of queries)
      expect(query).toMatch(/occurred_at >= toDateTime\('\d{4}-\d\d-\d\d \d\d:\d\d:\d\d', 'UTC'\)/);
    expect(await alertsFor([victimEmail, ...others])).toEqual([
      {
        kind: 'credential_stuffing',
        email: victimEmail,
        evidence: { failures: 4, ips: 3, window_seconds: 3_600 },
      },
    ]);
  });
});
