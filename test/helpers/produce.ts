import { v7 as uuidv7 } from 'uuid';
import type { Envelope } from '../../src/events/catalog.js';
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
      const batch = Array.from({ length: Math.min(batchSize, count - start) }, (_, i) => {
        const userId = uuidv7();
        return buildEvent({
          type: 'user.profile.updated',
          userId,
          actor: { type: 'user', id: userId },
          meta: { ip: null, userAgent: null, requestId: null },
          data: { changes: { name: { old: marker, new: `${marker}-${start + i}` } } },
        });
      });
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
