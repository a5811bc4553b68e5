import type { Consumer, ConsumerConfig, EachBatchPayload, Kafka } from 'kafkajs';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import { metricNames } from '../metrics/names.js';
import { withDeadline } from '../platform/deadline.js';
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
  /** Where the consumer's restarts are counted. */
  registry: Registry;
  /** A consumer silent this long is made anew (default 60 s; tests shorten it). */
  stallMs?: number;
}

/** How old the cluster's metadata (each partition's leader) may get before a consumer reads it again. */
const METADATA_MAX_AGE_MS = 10_000;
/** A consumer that neither fetched nor handled a chunk for this long is stalled (see `eventConsumer`). */
const STALL_MS = 60_000;
/** After a new consumer failed to start, the next try comes this much later. */
const RETRY_AFTER_MS = 15_000;
/** How often the watchdog looks. */
const WATCH_EVERY_MS = 5_000;
/** A stalled consumer's disconnect, and a new one's connect and join, are given this long. */
const RESTART_DEADLINE_MS = 60_000;

/**
 * The event-consumer loop shared by every consumer of the event topics: a kafkajs consumer group, each
 * partition's batches cut into chunks, each chunk's messages parsed as events (an invalid one is
 * logged, counted and skipped), handed to `handle`, and the chunk's last offset committed only once
 * `handle` has resolved (at least once: a restart re-reads what was not committed).
 *
 * Two guards against kafkajs consuming nothing, silently, while the process lives:
 * - Its metadata is read again every METADATA_MAX_AGE_MS. When a broker dies kafkajs drops it from its
 *   pool and fetches only from the brokers left, but keeps the dead one as the leader of its partitions
 *   until its metadata is next read (by default after 5 minutes): those partitions are not fetched at
 *   all meanwhile. Measured on the three-broker test: after a partition leader was killed, the fan-out
 *   and audit consumers both stopped at 1,500 of 3,000 events for over two minutes, logging nothing.
 * - A watchdog: kafkajs can also give up after a crash it deems fatal, or hang (kafkajs issue #659). A
 *   running consumer fetches at least every 5 s (kafkajs's `maxWaitTime`) when it is not handling a
 *   chunk, so one that has done neither for STALL_MS, or that crashed for good, is disconnected and
 *   made anew; what it had not committed is read again by the new one (duplicates, dropped downstream
 *   by event id).
 */
export function eventConsumer(options: EventConsumerOptions): {
  start(): Promise<void>;
  stop(): Promise<void>;
} {
  const restarts = consumerRestarts(options.registry);
  const stallMs = stallMsOf(options);
  const state = { consumer: undefined as Consumer | undefined, lastSign: Date.now(), handling: 0 };
  let restarting: Promise<void> | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  const eachBatch = async (payload: EachBatchPayload) => {
    state.handling += 1;
    try {
      await consumeBatch(options, payload);
    } finally {
      state.handling -= 1;
      state.lastSign = Date.now();
    }
  };
  const begin = async () => {
    await runConsumer(options, eachBatch, {
      made: (consumer) => {
        state.consumer = consumer;
      },
      onFetch: () => {
        state.lastSign = Date.now();
      },
      // Given up by kafkajs: made anew at once.
      onGivenUp: () => {
        state.lastSign = 0;
        setImmediate(look);
      },
    });
    state.lastSign = Date.now();
  };
  const look = () => {
    const silentMs = Date.now() - state.lastSign;
    if (restarting || state.handling > 0 || silentMs < stallMs) return;
    options.logger.error(
      { group: options.groupId, silentMs },
      `${options.name}: the Kafka consumer has neither fetched nor handled anything for ${silentMs} ms; making it anew`,
    );
    restarting = restart(state, begin, options, () => restarts.inc({ group: options.groupId })).finally(
      () => {
        restarting = undefined;
      },
    );
  };
  return {
    async start() {
      await begin();
      watchdog = setInterval(look, Math.min(WATCH_EVERY_MS, stallMs / 2));
      watchdog.unref();
    },
    async stop() {
      clearInterval(watchdog);
      await restarting;
      await state.consumer?.disconnect();
    },
  };
}

/**
 * A kafkajs consumer of the event topics, running: `onFetch` at each fetch it completes, `onGivenUp`
 * when it crashed and kafkajs will not restart it. It is kept (as the caller's current consumer) as
 * soon as it is made, so that a start that fails or hangs can still be disconnected.
 */
async function runConsumer(
  options: EventConsumerOptions,
  eachBatch: (payload: EachBatchPayload) => Promise<void>,
  signs: { onFetch: () => void; onGivenUp: () => void; made?: (consumer: Consumer) => void },
): Promise<Consumer> {
  const consumer = options.kafka.consumer({
    groupId: options.groupId,
    metadataMaxAge: METADATA_MAX_AGE_MS,
    ...options.consumer,
  });
  signs.made?.(consumer);
  consumer.on(consumer.events.FETCH, signs.onFetch);
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) signs.onGivenUp();
  });
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
  return consumer;
}

/**
 * The stalled consumer disconnected (not waited on for ever: it may hang) and a new one started; if
 * that fails too (Kafka away), the watchdog tries again a little later.
 */
async function restart(
  state: { consumer: Consumer | undefined; lastSign: number },
  begin: () => Promise<void>,
  options: EventConsumerOptions,
  /** Counts a restart once the new consumer runs (not each try while Kafka is away). */
  restarted: () => void,
): Promise<void> {
  const stalled = state.consumer;
  await withDeadline(stalled?.disconnect() ?? Promise.resolve(), RESTART_DEADLINE_MS).catch(() => {});
  try {
    await withDeadline(begin(), RESTART_DEADLINE_MS, 'starting a new consumer');
    restarted();
  } catch (error) {
    options.logger.error({ err: error, group: options.groupId }, `${options.name}: the new consumer failed`);
    void state.consumer?.disconnect().catch(() => {});
    // Tried again RETRY_AFTER_MS from now (Kafka may be away a while: not a restart every look).
    state.lastSign = Date.now() - stallMsOf(options) + RETRY_AFTER_MS;
  }
}

const stallMsOf = (options: EventConsumerOptions) => options.stallMs ?? STALL_MS;

/** `hookline_kafka_consumer_restarts_total{group}`, one per registry (a process may run several consumers). */
function consumerRestarts(registry: Registry): Counter<'group'> {
  const existing = registry.getSingleMetric(metricNames.kafkaConsumerRestarts);
  if (existing) return existing as Counter<'group'>;
  return new Counter({
    name: metricNames.kafkaConsumerRestarts,
    help: 'Kafka consumers made anew, and running again, after they stopped fetching (stalled or crashed for good).',
    labelNames: ['group'] as const,
    registers: [registry],
  });
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
