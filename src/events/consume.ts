import type { Consumer, ConsumerConfig, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from '../logger.js';
import { type Envelope, parseEnvelope } from './catalog.js';

/** One chunk of a partition's batch, its messages parsed (invalid ones skipped and counted). */
export interface EventChunk {
  topic: string;
  partition: number;
  events: Envelope[];
  /** Messages in the chunk, valid or not. */
  messages: number;
  /** Keeps the consumer's membership while the handler waits long (e.g. for a store that is down). */
  heartbeat: () => Promise<void>;
}

export interface EventConsumerOptions {
  kafka: Kafka;
  groupId: string;
  topics: readonly string[];
  /** The consumer's session settings and fetch size. */
  consumer: Pick<
    ConsumerConfig,
    'sessionTimeout' | 'heartbeatInterval' | 'maxBytesPerPartition' | 'allowAutoTopicCreation'
  >;
  /** Partitions handled side by side (each in its order). */
  partitionsAtOnce: number;
  /** At most this many messages per chunk (a batch is handed over in chunks); Infinity: whole batches. */
  chunkSize: number;
  /** Resolves once the chunk's work is durable: only then are its offsets committed. */
  handle: (chunk: EventChunk) => Promise<void>;
  /** A message that is not a valid event: counted, then skipped rather than blocking its partition. */
  onInvalid: () => void;
  logger: Logger;
  /** Names the consumer in its log lines. */
  name: string;
}

/**
 * The event-consumer loop shared by every consumer of the event topics: a kafkajs consumer group, each
 * partition's batches cut into chunks, each chunk's messages parsed as events (an invalid one is
 * logged, counted and skipped), handed to `handle`, and the chunk's last offset committed only once
 * `handle` has resolved (at least once: a restart re-reads what was not committed).
 */
export function eventConsumer(options: EventConsumerOptions): {
  start(): Promise<void>;
  stop(): Promise<void>;
} {
  const consumer: Consumer = options.kafka.consumer({
    groupId: options.groupId,
    ...options.consumer,
  });
  const eachBatch = (payload: EachBatchPayload) => consumeBatch(options, payload);
  return {
    async start() {
      await consumer.connect();
      await consumer.subscribe({ topics: [...options.topics], fromBeginning: true });
      await consumer.run({
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsAtOnce,
        autoCommit: true,
        // Commit what is durable after every chunk, so a restart re-reads as little as possible.
        autoCommitThreshold: 1,
        eachBatch,
      });
    },
    stop: () => consumer.disconnect(),
  };
}

async function consumeBatch(options: EventConsumerOptions, payload: EachBatchPayload): Promise<void> {
  const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale } = payload;
  for (let start = 0; start < batch.messages.length; start += options.chunkSize) {
    if (!isRunning() || isStale()) return;
    const messages = batch.messages.slice(start, start + options.chunkSize);
    const events: Envelope[] = [];
    for (const message of messages) {
      try {
        events.push(parseEnvelope(JSON.parse(message.value?.toString() ?? '')));
      } catch (error) {
        options.onInvalid();
        options.logger.error(
          { err: error, topic: batch.topic, partition: batch.partition, offset: message.offset },
          `${options.name}: skipping a message that is not a valid event`,
        );
      }
    }
    await options.handle({
      topic: batch.topic,
      partition: batch.partition,
      events,
      messages: messages.length,
      heartbeat,
    });
    const last = messages.at(-1);
    if (last) resolveOffset(last.offset);
    await commitOffsetsIfNecessary();
    await heartbeat();
  }
}
