import { Queue } from 'bullmq';
import type { Admin } from 'kafkajs';
import { vi } from 'vitest';
import { allTopics } from '../../src/events/topics.js';
import { createKafka } from '../../src/kafka/client.js';
import { readLag } from '../../src/kafka/lag.js';
import { startGroupAtEnd } from '../../src/kafka/topics.js';
import { createRedis } from '../../src/redis.js';
import { linesKey } from '../../src/webhooks/flow/model.js';
import { testConfig, uniqueSuffix } from './env.js';
import { testLogger } from './logger.js';

export interface OwnPipeline {
  /** For the platform's processes: the delivery queue and the consumer groups of this test alone. */
  env: {
    WEBHOOK_QUEUE: string;
    FANOUT_GROUP_ID: string;
    AUDIT_GROUP_ID: string;
    DELIVERY_SWEEP_INTERVAL_SECONDS: string;
  };
  /** Messages on the event topics that its fan-out or audit group has not yet committed (handled). */
  lag: (role: 'fanout' | 'audit') => Promise<number>;
  /**
   * Removes the queue with every job in it, its flow lines and the consumer groups (unless `groups` is
   * false: a test whose Kafka goes away whole after it).
   */
  remove: (options?: { groups?: boolean }) => Promise<void>;
}

/**
 * A webhook pipeline of a test's own: a delivery queue and fan-out and audit consumer groups that no
 * other test file shares, the groups starting at the end of every topic (only this test's events
 * count, never the backlog of earlier ones), so that test files can run side by side. Its delivery
 * processes sweep nothing (a sweeper would re-queue other files' deliveries into this queue).
 */
export async function ownPipeline(
  label: string,
  options: {
    brokers?: string[];
    /**
     * Start the groups at the end of every topic (default). False on a Kafka of the test's own, new and
     * empty: there is no earlier backlog to skip, and the short-lived member that starts a group at the
     * end, joining a cluster whose coordinators are still settling, was found still holding half the
     * fan-out group's partitions minutes later on the three-broker test.
     */
    fromEnd?: boolean;
  } = {},
): Promise<OwnPipeline> {
  const name = `test-${label}-${uniqueSuffix()}`;
  const env = {
    WEBHOOK_QUEUE: name,
    FANOUT_GROUP_ID: `${name}-fanout`,
    AUDIT_GROUP_ID: `${name}-audit`,
    DELIVERY_SWEEP_INTERVAL_SECONDS: '0',
  };
  const kafka = createKafka({
    brokers: options.brokers ?? testConfig.KAFKA_BROKERS,
    clientId: name,
    logger: testLogger,
  });
  // Tried again for a while: on topics just created, a partition's leader may still be moving (a
  // cluster's first seconds), and reading its end offset is refused until it has.
  if (options.fromEnd ?? true)
    await vi.waitFor(
      () =>
        Promise.all(
          [env.FANOUT_GROUP_ID, env.AUDIT_GROUP_ID].map((group) => startGroupAtEnd(kafka, group, allTopics)),
        ),
      { timeout: 30_000, interval: 1_000 },
    );
  // One admin for the pipeline's life (lag is polled often), connected when first needed and
  // disconnected by remove.
  let connected: Promise<Admin> | undefined;
  const admin = () => {
    connected ??= (async () => {
      const made = kafka.admin();
      await made.connect();
      return made;
    })();
    return connected;
  };
  const remove = async ({ groups = true }: { groups?: boolean } = {}) => {
    const connection = createRedis(testConfig.REDIS_URL, 'queue', `${name}:remove`);
    const queue = new Queue(name, { connection });
    try {
      await queue.obliterate({ force: true });
      await connection.del(linesKey(name));
    } finally {
      await queue.close();
      connection.disconnect();
    }
    // The admin: made to delete the groups, or only closed if lag had it made.
    const cleaner = groups ? await admin() : await connected?.catch(() => undefined);
    try {
      // A group still has a member until that process has left it (stopped) or its session expired
      // (killed): stop the processes first; a killed member is waited for, up to a session's length,
      // or a rebalance's (60 s) when the group was rebalancing as its member went.
      for (const group of groups ? [env.FANOUT_GROUP_ID, env.AUDIT_GROUP_ID] : []) {
        await vi.waitFor(() => cleaner?.deleteGroups([group]).catch(unlessGone), {
          timeout: 90_000,
          interval: 1_000,
        });
      }
    } finally {
      connected = undefined;
      await cleaner?.disconnect();
    }
  };
  const lag = async (role: 'fanout' | 'audit') => {
    const groupId = role === 'fanout' ? env.FANOUT_GROUP_ID : env.AUDIT_GROUP_ID;
    const lags = await readLag(await admin(), [{ groupId, topics: allTopics }]);
    return lags.reduce((sum, partition) => sum + partition.lag, 0);
  };
  return { env, lag, remove };
}

/** A group already gone counts as deleted (a retry after a partial failure); any other error throws. */
function unlessGone(error: unknown): void {
  const groups = (error as { groups?: { groupId?: string; error?: { type?: string } }[] }).groups ?? [];
  if (groups.length === 0) throw error;
  const refused = groups.filter((g) => g.error?.type !== 'GROUP_ID_NOT_FOUND');
  // Named in the message: kafkajs's own says only "Error in DeleteGroups".
  if (refused.length > 0)
    throw new Error(`deleting ${refused.map((g) => `${g.groupId}: ${g.error?.type}`).join(', ')}`, {
      cause: error,
    });
}
