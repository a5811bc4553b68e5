import { v7 as uuidv7 } from 'uuid';
import { type Envelope, eventCatalog } from '../../src/events/catalog.js';
import { buildEvent, messageKeyOf } from '../../src/events/envelope.js';
import { topics } from '../../src/events/topics.js';
import { createKafka } from '../../src/kafka/client.js';
import { testConfig } from './env.js';
import { testLogger } from './logger.js';

/**
 * Produces `count` valid `user.profile.updated` events straight to Kafka (as the relay would), each
 * carrying `marker` in its data, in batches. For tests and benchmarks that need many events fast.
 */
export async function produceProfileEvents(
  count: number,
  marker: string,
  batchSize = 500,
): Promise<Envelope[]> {
  const kafka = createKafka({
    brokers: testConfig.KAFKA_BROKERS,
    clientId: 'test-producer',
    logger: testLogger,
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const events: Envelope[] = [];
  try {
    for (let start = 0; start < count; start += batchSize) {
      const batch = Array.from({ length: Math.min(batchSize, count - start) }, (_, i) =>
        profileEvent(marker, start + i),
      );
      await producer.send({
        topic: topics.userChanges,
        acks: -1,
        messages: batch.map((event) => ({ key: messageKeyOf(event), value: JSON.stringify(event) })),
      });
      events.push(...batch);
    }
  } finally {
    await producer.disconnect();
  }
  return events;
}

/**
 * Produces events straight to Kafka at `ratePerSecond` for `seconds` (in ticks of 50 ms, one producer),
 * each built by `build(i)`. Returns them as produced.
 */
export async function produceAtRate(
  ratePerSecond: number,
  seconds: number,
  build: (i: number) => Envelope,
): Promise<Envelope[]> {
  const kafka = createKafka({
    brokers: testConfig.KAFKA_BROKERS,
    clientId: 'test-paced',
    logger: testLogger,
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const events: Envelope[] = [];
  const total = Math.round(ratePerSecond * seconds);
  const perTick = Math.max(1, Math.round(ratePerSecond / 20));
  const started = Date.now();
  try {
    while (events.length < total) {
      const wait = started + (events.length / ratePerSecond) * 1_000 - Date.now();
      // Pacing: the next tick is due at a fixed time, whatever the last send took.
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const batch = Array.from({ length: Math.min(perTick, total - events.length) }, (_, i) =>
        build(events.length + i),
      );
      await producer.send({
        topic: eventCatalog[batch[0]?.type ?? 'user.profile.updated'].topic,
        acks: -1,
        messages: batch.map((event) => ({ key: messageKeyOf(event), value: JSON.stringify(event) })),
      });
      events.push(...batch);
    }
  } finally {
    await producer.disconnect();
  }
  return events;
}

/** A `user.profile.updated` event carrying `marker`, as `produceProfileEvents` makes them. */
export function profileEvent(marker: string, i: number): Envelope {
  const userId = uuidv7();
  return buildEvent({
    type: 'user.profile.updated',
    userId,
    actor: { type: 'user', id: userId },
    meta: { ip: null, userAgent: null, requestId: null },
    data: { changes: { name: { old: marker, new: `${marker}-${i}` } } },
  });
}
