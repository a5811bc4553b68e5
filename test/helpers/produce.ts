import { profileUpdate, sendEvents } from '../../scripts/bench/load.js';
import type { Envelope } from '../../src/events/catalog.js';
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
      await sendEvents(producer, batch);
      events.push(...batch);
    }
  } finally {
    await producer.disconnect();
  }
  return events;
}

/** A `user.profile.updated` event carrying `marker`, as `produceProfileEvents` makes them. */
export function profileEvent(marker: string, i: number): Envelope {
  return profileUpdate(marker, `${marker}-${i}`);
}
