import type { EachBatchPayload, Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { eventConsumer } from '../../src/events/consume.js';
import { metricNames } from '../../src/metrics/names.js';
import { testLogger } from '../helpers/logger.js';

// The event consumers' watchdog: kafkajs can stop fetching for good after a broker dies (seen on the
// three-broker test), and then only a new consumer reads on. Fake kafkajs consumers, each told how
// it behaves once running: fetching (a FETCH event every 10 ms), silent, crashing for good, or
// handing over one batch whose handler takes long.

type Behaviour = 'fetches' | 'silent' | 'crashes' | 'slow-batch';

interface FakeConsumer {
  behaviour: Behaviour;
  disconnected: boolean;
}

function fakeKafka(behaviours: Behaviour[]) {
  const made: FakeConsumer[] = [];
  const timers: NodeJS.Timeout[] = [];
  const kafka = {
    consumer: () => {
      const state: FakeConsumer = { behaviour: behaviours[made.length] ?? 'fetches', disconnected: false };
      made.push(state);
      const listeners = new Map<string, (event: { payload: { restart: boolean } }) => void>();
      return {
        events: { FETCH: 'fetch', CRASH: 'crash' },
        on: (name: string, listener: (event: { payload: { restart: boolean } }) => void) => {
          listeners.set(name, listener);
          return () => listeners.delete(name);
        },
        connect: async () => {},
        subscribe: async () => {},
        run: async ({ eachBatch }: { eachBatch: (payload: EachBatchPayload) => Promise<void> }) => {
          if (state.behaviour === 'fetches') {
            timers.push(setInterval(() => state.disconnected || listeners.get('fetch')?.({} as never), 10));
          }
          if (state.behaviour === 'crashes') {
            setTimeout(() => listeners.get('crash')?.({ payload: { restart: false } }), 10);
          }
          if (state.behaviour === 'slow-batch') void eachBatch(slowBatch());
        },
        disconnect: async () => {
          state.disconnected = true;
        },
      };
    },
  } as unknown as Kafka;
  return { kafka, made, close: () => timers.forEach(clearInterval) };
}

/** One batch of one message whose handler (below) takes 400 ms. */
function slowBatch(): EachBatchPayload {
  const event = {
    id: '01890000-0000-7000-8000-000000000000',
    type: 'user.profile.updated',
    occurred_at: new Date().toISOString(),
  };
  return {
    batch: {
      topic: 't',
      partition: 0,
      messages: [{ offset: '0', value: Buffer.from(JSON.stringify(event)) }],
    },
    resolveOffset: () => {},
    heartbeat: async () => {},
    commitOffsetsIfNecessary: async () => {},
    isRunning: () => true,
    isStale: () => false,
  } as unknown as EachBatchPayload;
}

let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

async function started(behaviours: Behaviour[], stallMs: number) {
  const fake = fakeKafka(behaviours);
  const registry = new Registry();
  const consumer = eventConsumer({
    kafka: fake.kafka,
    groupId: 'g',
    topics: ['t'],
    consumer: {},
    partitionsAtOnce: 1,
    chunkSize: 10,
    handle: () => new Promise((resolve) => setTimeout(resolve, 400)),
    onInvalid: () => {},
    logger: testLogger,
    name: 'test',
    registry,
    stallMs,
  });
  await consumer.start();
  stop = async () => {
    await consumer.stop();
    fake.close();
  };
  const restarts = async () =>
    (await registry.getSingleMetric(metricNames.kafkaConsumerRestarts)?.get())?.values[0]?.value ?? 0;
  return { made: fake.made, restarts };
}

describe('an event consumer', () => {
  it('that stops fetching is disconnected and made anew, and the restart is counted', async () => {
    const { made, restarts } = await started(['silent', 'fetches'], 100);
    await vi.waitFor(() => expect(made).toHaveLength(2), { timeout: 2_000 });
    expect(made[0]?.disconnected).toBe(true);
    expect(await restarts()).toBe(1);
    // The new one fetches: it is kept.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(made).toHaveLength(2);
    expect(made[1]?.disconnected).toBe(false);
  });

  it('that fetches is kept', async () => {
    const { made, restarts } = await started(['fetches'], 100);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(made).toHaveLength(1);
    expect(await restarts()).toBe(0);
  });

  it('that kafkajs gave up on (a crash without restart) is made anew', async () => {
    // A stall time far beyond the test: only the crash can make the second consumer.
    const { made, restarts } = await started(['crashes', 'fetches'], 60_000);
    await vi.waitFor(() => expect(made).toHaveLength(2), { timeout: 2_000 });
    expect(made[0]?.disconnected).toBe(true);
    expect(await restarts()).toBe(1);
  });

  it('is not made anew while its handler works longer than the stall time', async () => {
    // The handler takes 400 ms, four times the stall time; the fake fetches nothing meanwhile.
    const { made } = await started(['slow-batch'], 100);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(made).toHaveLength(1);
    // Once it is done and the consumer stays silent, it is.
    await vi.waitFor(() => expect(made).toHaveLength(2), { timeout: 2_000 });
  });
});
