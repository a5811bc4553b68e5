import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { asc } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { createClickHouse } from '../../src/clickhouse/client.js';
import { createDatabase } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { roles } from '../../src/db/schema/index.js';
import { allTopics } from '../../src/events/topics.js';
import { createKafka } from '../../src/kafka/client.js';
import { ensureTopics } from '../../src/kafka/topics.js';
import { createRedis } from '../../src/redis.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { testLogger } from '../helpers/logger.js';

const run = promisify(execFile);
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('the local stack is real', () => {
  it('a message produced with kafkajs is consumed back from the broker', async () => {
    const kafka = createKafka({
      brokers: testConfig.KAFKA_BROKERS,
      clientId: 'test-stack',
      logger: testLogger,
    });
    const topic = `test-roundtrip-${uniqueSuffix()}`;
    const admin = kafka.admin();
    await admin.connect();
    cleanups.push(async () => {
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
    });
    await ensureTopics(admin, { topics: [topic], partitions: 3, replicationFactor: 1, logger: testLogger });

    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    const value = JSON.stringify({ hello: topic });
    await producer.send({ topic, acks: -1, messages: [{ key: 'k1', value }] });

    const groupId = `test-group-${uniqueSuffix()}`;
    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    // Reversed at the end: the consumer leaves, then its group is deleted, then the admin disconnects.
    cleanups.push(() => admin.deleteGroups([groupId]));
    cleanups.push(() => consumer.disconnect());
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = await new Promise<string>((resolve) => {
      void consumer.run({
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) resolve(message.value?.toString() ?? '');
        },
      });
    });
    expect(received).toBe(value);
  });

  it('a BullMQ job round-trips through Redis', async () => {
    const connection = createRedis(testConfig.REDIS_URL, 'queue', 'test-bullmq');
    const name = `test-queue-${uniqueSuffix()}`;
    const queue = new Queue(name, { connection });
    const events = new QueueEvents(name, {
      connection: createRedis(testConfig.REDIS_URL, 'queue', 'test-events'),
    });
    const worker = new Worker(name, async (job) => ({ doubled: (job.data as { n: number }).n * 2 }), {
      connection: createRedis(testConfig.REDIS_URL, 'queue', 'test-worker'),
    });
    cleanups.push(async () => {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
      await events.close();
      connection.disconnect();
    });
    await events.waitUntilReady();
    const job = await queue.add('double', { n: 21 }, { jobId: `job-${uniqueSuffix()}` });
    const result = await job.waitUntilFinished(events, 20_000);
    expect(result).toEqual({ doubled: 42 });
    expect(await queue.getJobState(job.id ?? '')).toBe('completed');
  });

  it('Redis has the settings BullMQ needs in production', async () => {
    const redis = createRedis(testConfig.REDIS_URL, 'command', 'test-settings');
    cleanups.push(() => redis.quit());
    expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
  });

  it('a drizzle query runs against PostgreSQL after the committed migrations', async () => {
    const { db, sql, end } = createDatabase({
      url: testConfig.DATABASE_URL,
      poolSize: 4,
      applicationName: 'test',
    });
    cleanups.push(() => end({ timeout: 5 }));
    // Several processes may migrate at once: the advisory lock makes that harmless.
    await Promise.all([migrateDatabase(db, sql, testLogger), migrateDatabase(db, sql, testLogger)]);
    const rows = await db.select({ name: roles.name }).from(roles).orderBy(asc(roles.name));
    expect(rows.map((row) => row.name)).toEqual(expect.arrayContaining(['admin', 'user']));
  });

  it('a row is inserted into and read back from ClickHouse', async () => {
    const clickhouse = createClickHouse({ url: testConfig.CLICKHOUSE_URL });
    const table = `test_rows_${uniqueSuffix()}`;
    cleanups.push(async () => {
      await clickhouse.command({ query: `DROP TABLE IF EXISTS ${table}` });
      await clickhouse.close();
    });
    // MergeTree with ORDER BY: valid on ClickHouse 18.16 and on current releases.
    await clickhouse.command({
      query: `CREATE TABLE ${table} (id String, at DateTime, n UInt32) ENGINE = MergeTree ORDER BY (at, id)`,
    });
    await clickhouse.insert({
      table,
      format: 'JSONEachRow',
      values: [
        { id: 'a', at: '2026-01-02 03:04:05', n: 1 },
        { id: 'b', at: '2026-01-02 03:04:06', n: 2 },
      ],
    });
    const result = await clickhouse.query({
      query: `SELECT id, n FROM ${table} ORDER BY id`,
      format: 'JSONEachRow',
    });
    expect(await result.json()).toEqual([
      { id: 'a', n: 1 },
      { id: 'b', n: 2 },
    ]);
  });

  it("a Kafka client outside the project (kcat) sees the broker and the platform's topics", async () => {
    const { stdout } = await run('kcat', ['-L', '-b', testConfig.KAFKA_BROKERS.join(','), '-J']);
    const metadata = JSON.parse(stdout) as {
      brokers: unknown[];
      topics: { topic: string; partitions: unknown[] }[];
    };
    expect(metadata.brokers.length).toBe(1);
    for (const topic of allTopics) {
      const found = metadata.topics.find((t) => t.topic === topic);
      expect(found, `topic ${topic}`).toBeDefined();
      expect(found?.partitions.length).toBeGreaterThanOrEqual(testConfig.KAFKA_TOPIC_PARTITIONS);
    }
  });
});
