import { type Admin, Partitioners } from 'kafkajs';
import { describe, expect, it, vi } from 'vitest';
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
  it('gives each message its partition, and finds nothing missing when every partition written to answered', async () => {
    const check = new SentPartitions(async () => admin);
    const byTopic = new Map([['user-changes', messages]]);
    await check.assign(byTopic);
    const missing = check.missing(
      byTopic,
      expected.map((p) => ack(p)),
    );
    expect(expected.length).toBeGreaterThan(2);
    expect(missing).toEqual([]);
  });

  it('names a partition written to that did not answer, or answered with an error', async () => {
    const check = new SentPartitions(async () => admin);
    const [first, second, ...rest] = expected;
    const byTopic = new Map([['user-changes', messages]]);
    await check.assign(byTopic);
    const missing = check.missing(byTopic, [ack(second ?? 0, 6), ...rest.map((p) => ack(p))]);
    expect(missing.sort()).toEqual([`user-changes/${first}`, `user-changes/${second}`].sort());
  });

  it('reads the partitions again after a minute, and keeps the last ones read while Kafka cannot answer', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-12-02T00:00:00Z') });
    try {
      let failing = false;
      let connects = 0;
      const flaky = {
        fetchTopicMetadata: async () => {
          fetched += 1;
          if (failing) throw new Error('connect ECONNREFUSED');
          return { topics: [{ name: 'user-changes', partitions }] };
        },
        disconnect: async () => {},
      } as unknown as Admin;
      const check = new SentPartitions(async () => {
        connects += 1;
        return flaky;
      });
      const all = expected.map((p) => ack(p));
      const byTopic = new Map([['user-changes', messages]]);
      fetched = 0;
      await check.assign(byTopic);
      await check.assign(byTopic);
      expect(fetched).toBe(1);
      vi.advanceTimersByTime(61_000);
      failing = true;
      await check.assign(byTopic);
      expect(check.missing(byTopic, all)).toEqual([]);
      expect(fetched).toBe(2);
      failing = false;
      await check.assign(byTopic);
      // The admin that failed was closed and a new one connected.
      expect([fetched, connects]).toEqual([3, 2]);
    } finally {
      vi.useRealTimers();
    }
  });
});
