import type { Consumer } from 'kafkajs';
import { vi } from 'vitest';
import { type Envelope, parseEnvelope } from '../../src/events/catalog.js';
import { allTopics } from '../../src/events/topics.js';
import { createKafka } from '../../src/kafka/client.js';
import { testConfig, uniqueSuffix } from './env.js';
import { testLogger } from './logger.js';

export interface RecordedEvent {
  topic: string;
  key: string | null;
  envelope: Envelope;
  raw: string;
}

export interface EventRecorder {
  events: RecordedEvent[];
  /** Waits until `count` recorded events match, and returns them. */
  waitFor: (
    match: (event: RecordedEvent) => boolean,
    options?: { count?: number; timeoutMs?: number },
  ) => Promise<RecordedEvent[]>;
  stop: () => Promise<void>;
}

/**
 * A test consumer on the platform's topics, with its own consumer group, that records every event
 * published after it started (it seeks to the end offsets taken before it joined). Every envelope is
 * parsed with the catalogue's schemas: an invalid event fails the test that reads it.
 */
export type TopicOffsets = Map<string, { partition: number; offset: string }[]>;

/** The end offsets of the topics now: events published later are at or after them. */
export async function currentOffsets(topics: readonly string[] = allTopics): Promise<TopicOffsets> {
  const kafka = createKafka({
    brokers: testConfig.KAFKA_BROKERS,
    clientId: 'test-offsets',
    logger: testLogger,
  });
  const admin = kafka.admin();
  await admin.connect();
  const offsets: TopicOffsets = new Map();
  try {
    for (const topic of topics) offsets.set(topic, await admin.fetchTopicOffsets(topic));
  } finally {
    await admin.disconnect();
  }
  return offsets;
}

/**
 * The header of a message a test writes to an event topic on purpose, not being an event (to check
 * that consumers skip it): the recorders, which fail on any invalid event, leave it out.
 */
export const TEST_GARBAGE_HEADER = 'hookline-test-garbage';

export async function recordEvents(
  topics: readonly string[] = allTopics,
  options: { from?: TopicOffsets } = {},
): Promise<EventRecorder> {
  const kafka = createKafka({
    brokers: testConfig.KAFKA_BROKERS,
    clientId: 'test-recorder',
    logger: testLogger,
  });
  const start = options.from ?? (await currentOffsets(topics));

  const groupId = `test-recorder-${uniqueSuffix()}`;
  const consumer: Consumer = kafka.consumer({
    groupId,
    sessionTimeout: 10_000,
  });
  const events: RecordedEvent[] = [];
  const invalid: string[] = [];
  await consumer.connect();
  // From the end, then sought back to `start`: never a read of older events before the seek lands.
  await consumer.subscribe({ topics: [...topics], fromBeginning: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  const startOf = (topic: string, partition: number) =>
    BigInt(start.get(topic)?.find((p) => p.partition === partition)?.offset ?? '0');
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) {
        if (BigInt(message.offset) < startOf(batch.topic, batch.partition)) continue;
        // A test's deliberate garbage (see TEST_GARBAGE_HEADER) is not the platform's doing.
        if (message.headers?.[TEST_GARBAGE_HEADER] !== undefined) continue;
        const raw = message.value?.toString() ?? '';
        try {
          events.push({
            topic: batch.topic,
            key: message.key?.toString() ?? null,
            envelope: parseEnvelope(JSON.parse(raw)),
            raw,
          });
        } catch (error) {
          invalid.push(`${batch.topic}: ${raw}: ${String(error)}`);
        }
      }
    },
  });
  await joined;
  for (const [topic, offsets] of start) {
    for (const { partition, offset } of offsets) consumer.seek({ topic, partition, offset });
  }

  return {
    events,
    async waitFor(match, options = {}) {
      const count = options.count ?? 1;
      const found = await vi.waitFor(
        () => {
          const found = events.filter(match);
          // An invalid event ends the wait at once: it fails below, whatever else was recorded.
          if (invalid.length === 0 && found.length < count) {
            throw new Error(
              `expected ${count} matching events, found ${found.length} (of ${events.length} recorded)`,
            );
          }
          return found;
        },
        { timeout: options.timeoutMs ?? 20_000, interval: 100 },
      );
      if (invalid.length > 0) throw new Error(`invalid events on Kafka:\n${invalid.join('\n')}`);
      return found;
    },
    // The group goes with the recorder: a run leaves no consumer group behind.
    async stop() {
      await consumer.disconnect();
      const admin = kafka.admin();
      await admin.connect();
      try {
        await admin.deleteGroups([groupId]);
      } finally {
        await admin.disconnect();
      }
    },
  };
}
