import type { Admin } from 'kafkajs';
import { Gauge, type Registry } from 'prom-client';
import type { Dependencies } from '../platform/dependencies.js';

interface Watched {
  admin: Admin;
  connected?: Promise<void>;
  groups: { groupId: string; topics: readonly string[] }[];
}

const perRegistry = new WeakMap<Registry, Watched>();

/**
 * `hookline_kafka_consumer_lag{group,topic,partition}`: messages not yet committed by a consumer
 * group, read from the broker at scrape time (end offset minus committed offset). One gauge per
 * registry; every consumer group of the process (fan-out, audit) is added to it.
 */
export function registerConsumerLag(deps: Dependencies, groupId: string, topics: readonly string[]): void {
  const registry = deps.metrics.registry;
  const existing = perRegistry.get(registry);
  if (existing) {
    existing.groups.push({ groupId, topics });
    return;
  }
  const watched: Watched = { admin: deps.kafka.admin(), groups: [{ groupId, topics }] };
  perRegistry.set(registry, watched);
  deps.onClose(() => watched.admin.disconnect());
  new Gauge({
    name: 'hookline_kafka_consumer_lag',
    help: 'Messages of a topic partition not yet committed by the consumer group.',
    labelNames: ['group', 'topic', 'partition'] as const,
    registers: [registry],
    async collect() {
      // A scrape must not fail because Kafka is away: the last values stay until it answers again.
      watched.connected ??= watched.admin.connect().catch((error: unknown) => {
        watched.connected = undefined;
        throw error;
      });
      try {
        await watched.connected;
      } catch {
        return;
      }
      for (const group of watched.groups) {
        const committed = await watched.admin
          .fetchOffsets({ groupId: group.groupId, topics: [...group.topics] })
          .catch(() => undefined);
        if (!committed) continue;
        for (const { topic, partitions } of committed) {
          const ends = await watched.admin.fetchTopicOffsets(topic).catch(() => []);
          for (const end of ends) {
            const done = partitions.find((p) => p.partition === end.partition);
            const from = done && Number(done.offset) >= 0 ? Number(done.offset) : Number(end.low);
            this.set(
              { group: group.groupId, topic, partition: String(end.partition) },
              Math.max(0, Number(end.high) - from),
            );
          }
        }
      }
    },
  });
}
