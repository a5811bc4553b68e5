import type { Admin } from 'kafkajs';
import type { Logger } from '../logger.js';

/**
 * Creates the topics that do not exist yet (idempotent, safe to run from several processes at once).
 * Existing topics are left as they are; a partition count lower than asked is logged, not changed.
 */
export async function ensureTopics(
  admin: Admin,
  options: { topics: readonly string[]; partitions: number; replicationFactor: number; logger: Logger },
): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = options.topics.filter((topic) => !existing.has(topic));
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: options.partitions,
        replicationFactor: options.replicationFactor,
      })),
    });
    options.logger.info({ topics: missing, partitions: options.partitions }, 'created Kafka topics');
  }
  const metadata = await admin.fetchTopicMetadata({ topics: [...options.topics] });
  for (const topic of metadata.topics) {
    if (topic.partitions.length < options.partitions) {
      options.logger.warn(
        { topic: topic.name, partitions: topic.partitions.length, wanted: options.partitions },
        'topic has fewer partitions than KAFKA_TOPIC_PARTITIONS; left unchanged',
      );
    }
  }
  return missing;
}

/**
 * Starts a new consumer group at the current end of each topic, so it sees only later events.
 * Explicit offsets, because kafkajs's `resetOffsets` commits -1, which a consumer reads as "none yet".
 */
export async function startGroupAtEnd(
  admin: Admin,
  groupId: string,
  topics: readonly string[],
): Promise<void> {
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({
      groupId,
      topic,
      partitions: ends.map(({ partition, high }) => ({ partition, offset: high })),
    });
  }
}
