import { Gauge } from 'prom-client';
import type { Dependencies } from '../platform/dependencies.js';

/**
 * `hookline_kafka_consumer_lag{group,topic,partition}`: messages not yet committed by a consumer
 * group, read from the broker at scrape time (end offset minus committed offset).
 */
export function registerConsumerLag(deps: Dependencies, groupId: string, topics: readonly string[]): void {
  const admin = deps.kafka.admin();
  deps.onClose(() => admin.disconnect());
  let connected: Promise<void> | undefined;
  new Gauge({
    name: 'hookline_kafka_consumer_lag',
    help: 'Messages of a topic partition not yet committed by the consumer group.',
    labelNames: ['group', 'topic', 'partition'] as const,
    registers: [deps.metrics.registry],
    async collect() {
      connected ??= admin.connect().catch((error: unknown) => {
        connected = undefined;
        throw error;
      });
      // A scrape must not fail because Kafka is away: the last values stay until it answers again.
      try {
        await connected;
      } catch {
        return;
      }
      const committed = await admin.fetchOffsets({ groupId, topics: [...topics] }).catch(() => undefined);
      if (!committed) return;
      for (const { topic, partitions } of committed) {
        const ends = await admin.fetchTopicOffsets(topic).catch(() => []);
        for (const end of ends) {
          const done = partitions.find((p) => p.partition === end.partition);
          const from = done && Number(done.offset) >= 0 ? Number(done.offset) : Number(end.low);
          this.set(
            { group: groupId, topic, partition: String(end.partition) },
            Math.max(0, Number(end.high) - from),
          );
        }
      }
    },
  });
}
