import { Queue } from 'bullmq';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadOf } from '../../scripts/bench/load.js';
import { createDatabase } from '../../src/db/client.js';
import { createKafka } from '../../src/kafka/client.js';
import { metricNames } from '../../src/metrics/names.js';
import { createRedis } from '../../src/redis.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { testLogger } from '../helpers/logger.js';
import { scrape } from '../helpers/metrics.js';
import { type OwnPipeline, ownPipeline } from '../helpers/pipeline.js';
import { type SpawnedProcess, spawnProcess } from '../helpers/process.js';
import { type CountingReceiver, startCountingReceiver } from '../helpers/receiver.js';
import { insertSubscription } from '../helpers/subscriptions.js';

// Issue 15's "two of each worker": two fan-out and two delivery processes share one consumer group
// and one queue; both of each carry part of the load; then one of each is SIGKILLed mid-run and not
// restarted. Every event is delivered by the survivors, and the duplicates at the receiver are no more
// than the attempts the killed delivery process had in flight (its jobs BullMQ found stalled and ran
// again, which this test counts).

const RATE = 300;
const SECONDS = 20;
const { sql, end } = createDatabase({
  url: testConfig.DATABASE_URL,
  poolSize: 2,
  applicationName: 'test-scale-out',
});
const kafka = createKafka({
  brokers: testConfig.KAFKA_BROKERS,
  clientId: 'test-scale-out',
  logger: testLogger,
});
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
const admin = kafka.admin();
let subscription: Awaited<ReturnType<typeof insertSubscription>> | undefined;
const processes: SpawnedProcess[] = [];
let pipeline: OwnPipeline | undefined;
let receiver: CountingReceiver | undefined;

afterAll(async () => {
  // The survivors are stopped, not killed: they leave the consumer group, which can then be removed.
  for (const process of processes) await process.terminate('SIGTERM');
  await subscription?.remove();
  await end({ timeout: 5 });
  await pipeline?.remove();
  await producer.disconnect().catch(() => {});
  await admin.disconnect().catch(() => {});
  await receiver?.close();
});

describe('two of each worker', () => {
  it('share the load, and lose nothing when one fan-out and one delivery process are SIGKILLed mid-run', async () => {
    const run = `scale${uniqueSuffix()}`;
    receiver = await startCountingReceiver(run);
    const { seen } = receiver;
    // max_in_flight wide enough for both delivery processes' slots: the limit is not what is tested.
    subscription = await insertSubscription(sql, { url: receiver.url, maxInFlight: 200 });
    const subscriptionId = subscription.id;
    pipeline = await ownPipeline('scale-out');
    const env = {
      ...pipeline.env,
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      DELIVERY_CONCURRENCY: '50',
    };
    const started = await Promise.allSettled(
      ['fanout', 'fanout', 'delivery', 'delivery'].map((entry) => spawnProcess(entry, env)),
    );
    for (const result of started) if (result.status === 'fulfilled') processes.push(result.value);
    const [fanoutA, fanoutB, deliveryA, deliveryB] = started.map((result) =>
      result.status === 'fulfilled' ? result.value : undefined,
    );
    if (!fanoutA || !fanoutB || !deliveryA || !deliveryB) throw new Error('a process did not start');
    // Both fan-outs in the group, with its partitions shared, before any event is produced.
    await admin.connect();
    await vi.waitFor(
      async () => {
        const [group] = (await admin.describeGroups([env.FANOUT_GROUP_ID])).groups;
        expect(group?.state).toBe('Stable');
        expect(group?.members.length).toBe(2);
      },
      { timeout: 60_000, interval: 250 },
    );

    await producer.connect();
    const producing = loadOf(producer, run).paced(RATE, SECONDS);
    const total = RATE * SECONDS;
    // Killed while the events still come, once a third have been fanned out and deliveries flow.
    const rowsSoFar = async () => {
      const [row] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM webhook_deliveries WHERE subscription_id = ${subscriptionId}`;
      return row?.n ?? 0;
    };
    await vi.waitFor(
      async () => {
        expect(await rowsSoFar()).toBeGreaterThanOrEqual(total / 3);
        expect(seen.size).toBeGreaterThanOrEqual(300);
      },
      { timeout: 60_000, interval: 20 },
    );
    const [fanoutsBefore, deliveriesBefore] = await Promise.all([
      Promise.all([fanoutA, fanoutB].map((p) => scrape(p.baseUrl))),
      Promise.all([deliveryA, deliveryB].map((p) => scrape(p.baseUrl))),
    ]);
    fanoutA.child.kill('SIGKILL');
    deliveryA.child.kill('SIGKILL');
    await Promise.all([fanoutA.terminate(), deliveryA.terminate()]);
    expect(await producing).toBe(total);

    await expect.poll(() => seen.size, { timeout: 120_000, interval: 250 }).toBe(total);
    // Every job done, the killed process's too: they stay active until the lock (10 s) has expired and
    // a stalled check (every 5 s) has found them, then they run again. Only then are the duplicates
    // at the receiver all in.
    const connection = createRedis(testConfig.REDIS_URL, 'queue', `${env.WEBHOOK_QUEUE}:test`);
    const queue = new Queue(env.WEBHOOK_QUEUE, { connection });
    const unfinished = async () => {
      const counts = await queue.getJobCounts(
        'waiting',
        'active',
        'delayed',
        'prioritized',
        'waiting-children',
      );
      return Object.values(counts).reduce((sum, n) => sum + n, 0);
    };
    await expect.poll(unfinished, { timeout: 60_000, interval: 250 }).toBe(0);
    await queue.close();
    connection.disconnect();

    const created = fanoutsBefore.map((m) => m.value(metricNames.webhookDeliveriesCreated));
    const attempted = deliveriesBefore.map((m) => m.value(metricNames.webhookAttempts));
    const duplicates = receiver.duplicates();
    const inFlightAtKill = stalledJobsOf(deliveryB);
    const rowsAtKill = created.reduce((sum, n) => sum + n, 0);
    const [rows] = await sql<{ n: number; events: number; succeeded: number }[]>`
      SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS events,
        count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded
      FROM webhook_deliveries WHERE subscription_id = ${subscriptionId}`;
    console.log(
      `two of each: killed at ${rowsAtKill} of ${total} deliveries created; before the kill, deliveries created by the fan-outs ${created.join(' / ')}, attempts by the delivery processes ${attempted.join(' / ')}; after it, ${seen.size} of ${total} delivered by the survivors, ${duplicates} duplicates, ${inFlightAtKill} attempts in flight in the killed delivery process`,
    );

    // Both of each carried a share of the load before the kill, which came while events still came.
    expect(rowsAtKill).toBeLessThan(total);
    for (const share of [created, attempted]) {
      const sum = (share[0] ?? 0) + (share[1] ?? 0);
      expect(Math.min(share[0] ?? 0, share[1] ?? 0)).toBeGreaterThanOrEqual(sum * 0.1);
    }
    // Nothing lost, one delivery row per event, each delivered; duplicates only from attempts in flight.
    expect(seen.size).toBe(total);
    expect(rows).toEqual({ n: total, events: total, succeeded: total });
    expect(duplicates).toBeLessThanOrEqual(inFlightAtKill);
  }, 240_000);
});

/** The jobs a delivery process found stalled (each a job the killed process had active) and ran again. */
function stalledJobsOf(process: SpawnedProcess): number {
  return process
    .output()
    .split('\n')
    .filter((line) => line.includes('delivery job stalled')).length;
}
