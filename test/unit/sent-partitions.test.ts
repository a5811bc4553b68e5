import { type Admin, Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { SentPartitions } from '../../src/events/sent-partitions.js';

// The relay's guard against kafkajs's sendBatch resolving without sending some partitions' messages
// (kafkajs issue #1303): the partitions a batch went to, against those Kafka acknowledged.

const partitions = Array.from({ length: 6 }, (_, partitionId) => ({
  partitionId,
  leader: partitionId % 3,
  replicas: [0, 1, 2],
  isr: [0, 1, 2],
  offlineReplicas: [],
  partitionErrorCode: 0,
}));
let fetched = 0;
const admin = {
  fetchTopicMetadata: async () => {
    fetched += 1;
    return { topics: [{ name: 'user-changes', partitions }] };
  },
  disconnect: async () => {},
} as unknown as Admin;
const messages = Array.from({ length: 40 }, (_, i) => ({ key: `user-${i}`, value: '{}' }));
const partitioner = Partitioners.DefaultPartitioner();
const expected = [
  ...new Set(
    messages.map((message) => partitioner({ topic: 'user-changes', partitionMetadata: partitions, message })),
  ),
];
const ack = (partition: number, errorCode = 0) => ({ topicName: 'user-changes', partition, errorCode });

describe('SentPartitions', () => {
  it('finds nothing missing when every partition written to answered', async () => {
    const check = new SentPartitions(async () => admin);
    const missing = await check.missing(
      new Map([['user-changes', messages]]),
      expected.map((p) => ack(p)),
    );
    expect(expected.length).toBeGreaterThan(2);
    expect(missing).toEqual([]);
  });

  it('names a partition written to that did not answer, or answered with an error, and reads the partitions again', async () => {
    const check = new SentPartitions(async () => admin);
    const [first, second, ...rest] = expected;
    fetched = 0;
    const missing = await check.missing(new Map([['user-changes', messages]]), [
      ack(second ?? 0, 6),
      ...rest.map((p) => ack(p)),
    ]);
    expect(missing.sort()).toEqual([`user-changes/${first}`, `user-changes/${second}`].sort());
    await check.missing(
      new Map([['user-changes', messages]]),
      expected.map((p) => ack(p)),
    );
    expect(fetched).toBe(2);
  });
});
