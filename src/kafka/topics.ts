import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from '../logger.js';
import { withDeadline } from '../platform/deadline.js';

/**
 * The replication of new topics: as configured, or 3 on a cluster of 3 brokers or more, else one
 * replica per broker; writes acknowledged by all in-sync replicas need 2 of them when there are 3
 * or more (a broker may fail without losing an acknowledged event or refusing writes).
 */
function replicationOf(configured: number | undefined, brokers: number) {
  const factor = configured ?? Math.max(1, Math.min(3, brokers));
  return { factor, minInSync: factor >= 3 ? 2 : 1 };
}

/**
 * Creates the topics that do not exist yet (idempotent, safe to run from several processes at once).
 * Existing topics are left as they are; a partition count lower than asked is logged, not changed.
 */
export async function ensureTopics(
  admin: Admin,
  options: {
    topics: readonly string[];
    partitions: number;
    replicationFactor: number | undefined;
    logger: Logger;
  },
): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = options.topics.filter((topic) => !existing.has(topic));
  if (missing.length > 0) {
    const { brokers } = await admin.describeCluster();
    const replication = replicationOf(options.replicationFactor, brokers.length);
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: options.partitions,
        replicationFactor: replication.factor,
        configEntries: [{ name: 'min.insync.replicas', value: String(replication.minInSync) }],
      })),
    });
    options.logger.info(
      { topics: missing, partitions: options.partitions, replication },
      'created Kafka topics',
    );
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
 * Starts a new consumer group at the current end of each topic, so it sees only later events: one
 * short-lived member joins, commits the end offsets and leaves. (kafkajs's `admin.setOffsets` takes a
 * topic at a time and waits out a whole fetch, about 5 s each; its `resetOffsets` commits -1, which a
 * consumer reads as "none yet".)
 */
export async function startGroupAtEnd(
  kafka: Kafka,
  groupId: string,
  topics: readonly string[],
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await Promise.all(
    topics.map(async (topic) => ({ topic, partitions: await admin.fetchTopicOffsets(topic) })),
  ).finally(() => admin.disconnect());
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  await consumer.connect();
  const joinAndCommit = async () => {
    const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
    await consumer.subscribe({ topics: [...topics], fromBeginning: false });
    await consumer.run({ autoCommit: false, eachBatch: async () => {} });
    await joined;
    await consumer.commitOffsets(
      ends.flatMap(({ topic, partitions }) =>
        partitions.map(({ partition, high }) => ({ topic, partition, offset: high })),
      ),
    );
  };
  try {
    // Bounded: a join that never completes must not leave this member in the group, holding
    // partitions that the group's real members then never get.
    await withDeadline(joinAndCommit(), START_AT_END_DEADLINE_MS, `starting ${groupId} at the end`);
  } finally {
    await consumer.disconnect();
  }
}

const START_AT_END_DEADLINE_MS = 30_000;
