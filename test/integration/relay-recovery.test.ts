import { migrate } from 'drizzle-orm/postgres-js/migrator';
import type { Kafka, Producer } from 'kafkajs';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratch, dropScratch, type Scratch, scratchName } from '../../scripts/lib/scratch-database.js';
import { createDatabase } from '../../src/db/client.js';
import { migrationsFolder } from '../../src/db/migrate.js';
import { createOutboxMetrics } from '../../src/events/metrics.js';
import { enqueueEvents } from '../../src/events/outbox.js';
import { OutboxRelay } from '../../src/events/relay.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { captureLogs } from '../helpers/logger.js';
import { profileEvent } from '../helpers/produce.js';

// The relay when kafkajs hangs: a send that never ends (as one did on the three-broker test after a
// leader was killed) fails its batch at the deadline, and the relay makes a new producer, which
// publishes. On a database of this file's own: a relay publishes every pending outbox row it finds,
// and on the shared database it would take other files' events to this fake Kafka.

const name = scratchName('relay', uniqueSuffix());
const admin = createDatabase({ url: testConfig.DATABASE_URL, poolSize: 1, applicationName: 'test-relay' });
let scratch: Scratch;

beforeAll(async () => {
  scratch = await createScratch(admin.sql, testConfig.DATABASE_URL, name, {
    poolSize: 3,
    applicationName: 'test-relay',
  });
  await migrate(scratch.db, { migrationsFolder });
});

afterAll(async () => {
  await scratch?.end({ timeout: 5 });
  await dropScratch(admin.sql, name);
  await admin.end({ timeout: 5 });
});

describe('the outbox relay when a Kafka send hangs', () => {
  it('fails the batch at the deadline, makes a new producer and publishes with it', async () => {
    const events = Array.from({ length: 10 }, (_, i) => profileEvent(`relay${uniqueSuffix()}`, i));
    await scratch.sql.begin((tx) => enqueueEvents(tx as never, events));
    // The fake Kafka: a topic of 6 partitions led by broker 0; its first producer's sends never end,
    // the next producers' sends are acknowledged for every partition.
    const producers: { disconnected: boolean; sent: number }[] = [];
    const kafka = {
      producer: () => {
        const state = { disconnected: false, sent: 0 };
        const hangs = producers.length === 0;
        producers.push(state);
        return {
          connect: async () => {},
          disconnect: async () => {
            state.disconnected = true;
          },
          sendBatch: ({ topicMessages }: { topicMessages: { topic: string; messages: unknown[] }[] }) => {
            if (hangs) return new Promise(() => {});
            state.sent += topicMessages.reduce((sum, t) => sum + t.messages.length, 0);
            return Promise.resolve(
              topicMessages.flatMap(({ topic }) =>
                Array.from({ length: 6 }, (_, partition) => ({ topicName: topic, partition, errorCode: 0 })),
              ),
            );
          },
        } as unknown as Producer;
      },
      admin: fakeAdmin,
    } as unknown as Kafka;
    const logs = captureLogs('warn');
    const relay = new OutboxRelay({
      sql: scratch.sql,
      kafka,
      logger: logs.logger,
      metrics: createOutboxMetrics(new Registry(), scratch.sql),
      batchSize: 100,
      pollIntervalMs: 100,
      retentionHours: 24,
      sendDeadlineMs: 500,
    });
    await relay.start();
    try {
      await expect
        .poll(
          async () => {
            const [row] = await scratch.sql<{ n: number }[]>`
              SELECT count(*)::int AS n FROM outbox WHERE published_at IS NOT NULL`;
            return row?.n;
          },
          { timeout: 10_000, interval: 100 },
        )
        .toBe(events.length);
    } finally {
      await relay.stop();
    }
    expect(producers.length).toBe(2);
    expect(producers[0]).toEqual({ disconnected: true, sent: 0 });
    expect(producers[1]?.sent).toBe(events.length);
    expect(logs.text()).toContain('sending the batch to Kafka: no answer within 500 ms');
    expect(logs.text()).toContain('outbox relay: a new Kafka producer');
  });

  it('sends whole batches again as soon as Kafka answers after an outage, not one row at a time', async () => {
    // Rows of the earlier test are published: this one's 10 are the only pending ones.
    const events = Array.from({ length: 10 }, (_, i) => profileEvent(`outage${uniqueSuffix()}`, i));
    await scratch.sql.begin((tx) => enqueueEvents(tx as never, events));
    // Kafka away for three sends (every row of the batch then has three attempts), then back.
    const batches: number[] = [];
    let failing = 3;
    const kafka = {
      producer: () =>
        ({
          connect: async () => {},
          disconnect: async () => {},
          sendBatch: async ({
            topicMessages,
          }: {
            topicMessages: { topic: string; messages: unknown[] }[];
          }) => {
            if (failing > 0) {
              failing -= 1;
              throw Object.assign(new Error('Connection error: connect ECONNREFUSED'), { retriable: true });
            }
            batches.push(topicMessages.reduce((sum, t) => sum + t.messages.length, 0));
            return topicMessages.flatMap(({ topic }) =>
              Array.from({ length: 6 }, (_, partition) => ({ topicName: topic, partition, errorCode: 0 })),
            );
          },
        }) as unknown as Producer,
      admin: fakeAdmin,
    } as unknown as Kafka;
    const relay = new OutboxRelay({
      sql: scratch.sql,
      kafka,
      logger: captureLogs('warn').logger,
      metrics: createOutboxMetrics(new Registry(), scratch.sql),
      batchSize: 100,
      pollIntervalMs: 100,
      retentionHours: 24,
    });
    for (let i = 0; i < 3; i++) await expect(relay.publishBatch()).rejects.toThrow('ECONNREFUSED');
    // The oldest row, which has failed three times, goes alone once (it may be one Kafka refuses)...
    expect(await relay.publishBatch()).toBe(1);
    // ...and once Kafka took it, the nine others go together.
    expect(await relay.publishBatch()).toBe(9);
    expect(batches).toEqual([1, 9]);
    await relay.stop();
  });
});

/** The fake Kafka's admin: every topic has 6 partitions, led by broker 0. */
function fakeAdmin() {
  return {
    connect: async () => {},
    disconnect: async () => {},
    fetchTopicMetadata: async ({ topics: asked }: { topics: string[] }) => ({
      topics: asked.map((topic) => ({
        name: topic,
        partitions: Array.from({ length: 6 }, (_, partitionId) => ({ partitionId, leader: 0 })),
      })),
    }),
  };
}
