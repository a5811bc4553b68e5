import { type Admin, type Message, Partitioners, type PartitionMetadata, type RecordMetadata } from 'kafkajs';
import { withDeadline } from '../platform/deadline.js';

/** How long a topic's partitions, once read, are taken as they are. */
const REREAD_MS = 60_000;
/** A read of them (with the admin client's connect) not answered within this fails. */
const READ_DEADLINE_MS = 10_000;

/**
 * What a relay's send must have had acknowledged. kafkajs's `sendBatch` can resolve without sending
 * some partitions' messages at all: when a broker dies mid-send and its partitions move to a broker
 * that already answered for other partitions of the same call, its retry finds nothing left to send
 * to that broker (it tracks answers by broker, not by partition: kafkajs issue #1303). Measured on the
 * three-broker cluster test: 70 of 3,000 events marked published were never in Kafka. So the relay
 * has this give each message its partition before the send (by the producer's own partitioner over
 * the topic's partitions), and treats a send whose answer lacks one of them as failed (sent again
 * whole: consumers dedupe by event id).
 */
export class SentPartitions {
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly partitions = new Map<string, { partitions: PartitionMetadata[]; readAt: number }>();
  private admin: Promise<Admin> | undefined;

  constructor(private readonly connectAdmin: () => Promise<Admin>) {}

  /** Gives each message its partition, by the producer's partitioner over the topic's partitions. */
  async assign(byTopic: Map<string, Message[]>): Promise<void> {
    for (const [topic, messages] of byTopic) {
      const partitionMetadata = await this.partitionsOf(topic);
      for (const message of messages)
        message.partition = this.partitioner({ topic, partitionMetadata, message });
    }
  }

  /** The (topic, partition) pairs of these messages, as `assign` gave them, that `acknowledged` lacks. */
  missing(byTopic: Map<string, Message[]>, acknowledged: RecordMetadata[]): string[] {
    const answered = new Set(
      acknowledged.filter((r) => r.errorCode === 0).map((r) => `${r.topicName}/${r.partition}`),
    );
    const sent = new Set<string>();
    for (const [topic, messages] of byTopic) {
      for (const message of messages) sent.add(`${topic}/${message.partition}`);
    }
    return [...sent].filter((pair) => !answered.has(pair));
  }

  async close(): Promise<void> {
    const admin = await this.admin?.catch(() => undefined);
    this.admin = undefined;
    await admin?.disconnect().catch(() => {});
  }

  /**
   * A topic's partitions, read again once a minute (a topic may gain partitions). While Kafka cannot
   * answer (a broker down), the last ones read serve, and the admin client is made anew next time:
   * kafkajs's admin can keep failing on a connection to a broker that died.
   */
  private async partitionsOf(topic: string): Promise<PartitionMetadata[]> {
    const known = this.partitions.get(topic);
    if (known && Date.now() - known.readAt < REREAD_MS) return known.partitions;
    try {
      this.admin ??= this.connectAdmin();
      const read = async () => (await this.admin)?.fetchTopicMetadata({ topics: [topic] });
      const metadata = await withDeadline(read(), READ_DEADLINE_MS, `reading the partitions of ${topic}`);
      const partitions = metadata?.topics[0]?.partitions ?? [];
      this.partitions.set(topic, { partitions, readAt: Date.now() });
      return partitions;
    } catch (error) {
      // Not awaited: an admin client that hung may hang on disconnecting too.
      const stale = this.admin;
      this.admin = undefined;
      void stale?.then((admin) => admin.disconnect()).catch(() => {});
      if (known) return known.partitions;
      throw error;
    }
  }
}
