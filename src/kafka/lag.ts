import type { Admin } from 'kafkajs';
import { Gauge } from 'prom-client';
import { metricNames } from '../metrics/names.js';
import { sampled } from '../metrics/sampled.js';
import type { Dependencies } from '../platform/dependencies.js';

interface Watched {
  admin: Admin;
  connected?: Promise<void>;
  groups: ConsumerGroup[];
}

/** A consumer group of a process and the topics it reads. */
export interface ConsumerGroup {
  groupId: string;
  topics: readonly string[];
}

/**
 * `hookline_kafka_consumer_lag{group,topic,partition}`: messages not yet committed by a consumer
 * group, read from the broker (end offset minus committed offset). Registered once per process by
 * runProcess, for every consumer group its plans declare (fan-out, audit).
 */
export function registerConsumerLag(deps: Dependencies, groups: readonly ConsumerGroup[]): void {
  const registry = deps.metrics.registry;
  const watched: Watched = { admin: deps.kafka.admin(), groups: [...groups] };
  deps.onClose(() => watched.admin.disconnect());
  // Read in the background (see `sampled`): a scrape never waits for the broker, and while Kafka is
  // away the last values stay until it answers again.
  const lag = sampled(() => readWatched(watched), { maxAgeMs: 5_000 });
  new Gauge({
    name: metricNames.kafkaConsumerLag,
    help: 'Messages of a topic partition not yet committed by the consumer group.',
    labelNames: ['group', 'topic', 'partition'] as const,
    registers: [registry],
    async collect() {
      for (const { group, topic, partition, lag: value } of (await lag()) ?? []) {
        this.set({ group, topic, partition }, value);
      }
    },
  });
}

/** The watched groups' lag, once the admin is connected (a failed connection is tried again next time). */
async function readWatched(watched: Watched) {
  watched.connected ??= watched.admin.connect().catch((error: unknown) => {
    watched.connected = undefined;
    throw error;
  });
  await watched.connected;
  return readLag(watched.admin, watched.groups);
}

/** End offset minus committed offset of every partition of every group's topics (admin connected). */
export async function readLag(admin: Admin, groups: readonly ConsumerGroup[]) {
  const lags: { group: string; topic: string; partition: string; lag: number }[] = [];
  const ends = new Map(
    await Promise.all(
      [...new Set(groups.flatMap((g) => g.topics))].map(
        async (topic) => [topic, await admin.fetchTopicOffsets(topic)] as const,
      ),
    ),
  );
  for (const group of groups) {
    const committed = await admin.fetchOffsets({ groupId: group.groupId, topics: [...group.topics] });
    for (const { topic, partitions } of committed) {
      for (const end of ends.get(topic) ?? []) {
        const done = partitions.find((p) => p.partition === end.partition);
        const from = done && Number(done.offset) >= 0 ? Number(done.offset) : Number(end.low);
        lags.push({
          group: group.groupId,
          topic,
          partition: String(end.partition),
          lag: Math.max(0, Number(end.high) - from),
        });
      }
    }
  }
  return lags;
}
