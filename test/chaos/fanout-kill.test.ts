import { v7 as uuidv7 } from 'uuid';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createDatabase } from '../../src/db/client.js';
import { createRedis } from '../../src/redis.js';
import { newSigningSecret } from '../../src/webhooks/delivery/signing.js';
import { FlowControl } from '../../src/webhooks/flow/flow-control.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { type OwnPipeline, ownPipeline } from '../helpers/pipeline.js';
import { type SpawnedProcess, spawnProcess } from '../helpers/process.js';
import { produceProfileEvents } from '../helpers/produce.js';

const { sql, end } = createDatabase({
  url: testConfig.DATABASE_URL,
  poolSize: 2,
  applicationName: 'test-fanout-kill',
});
let fanout: SpawnedProcess | undefined;
let pipeline: OwnPipeline | undefined;
const subscription = uuidv7();
afterAll(async () => {
  // Stopped, not killed: it leaves its consumer group, which can then be removed.
  await fanout?.terminate('SIGTERM');
  // Deleting the subscription deletes its deliveries (first: whatever else fails, no later test's
  // fan-out finds it).
  await sql`DELETE FROM webhook_subscriptions WHERE id = ${subscription}`;
  await end({ timeout: 5 });
  // Its flow keys too (deleted through the API, a subscription's keys go with it; here by hand).
  const redis = createRedis(testConfig.REDIS_URL, 'command', 'test-fanout-kill');
  await redis.del(...FlowControl.keys(subscription));
  redis.disconnect();
  await pipeline?.remove();
});

describe('the fan-out worker killed mid-batch', () => {
  it('skips no event and duplicates no delivery row after a restart', async () => {
    const marker = `fanout${uniqueSuffix()}`;
    // A subscription that nothing delivers to in this test (no delivery worker runs here).
    await sql`INSERT INTO webhook_subscriptions (id, url, event_types, secret)
      VALUES (${subscription}, 'http://127.0.0.1:9/fanout-kill', ${['user.profile.updated']}, ${newSigningSecret()})`;
    pipeline = await ownPipeline('fanout-kill');
    fanout = await spawnProcess('fanout', pipeline.env);
    const total = 3_000;
    const producing = produceProfileEvents(total, marker, 100);
    const rowsSoFar = async () => {
      const [row] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM webhook_deliveries WHERE subscription_id = ${subscription}`;
      return row?.n ?? 0;
    };
    // Kill it as soon as it is part-way through.
    await vi.waitFor(async () => expect(await rowsSoFar()).toBeGreaterThanOrEqual(200), {
      timeout: 60_000,
      interval: 20,
    });
    fanout.child.kill('SIGKILL');
    await fanout.terminate();
    const events = await producing;
    const ids = events.map((e) => e.id);
    // Rows for this test's events only (the shared group may re-read a few of other tests' events).
    const deliveries = async () => {
      const [row] = await sql<{ n: number; distinct_events: number }[]>`
        SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS distinct_events
        FROM webhook_deliveries WHERE subscription_id = ${subscription} AND event_id = ANY(${ids}::uuid[])`;
      return row ?? { n: 0, distinct_events: 0 };
    };
    const atKill = (await deliveries()).n;
    expect(atKill).toBeLessThan(total);

    fanout = await spawnProcess('fanout', pipeline.env);
    await expect
      .poll(async () => (await deliveries()).n, { timeout: 90_000, interval: 200 })
      .toBeGreaterThanOrEqual(total);
    const after = await deliveries();
    console.log(
      `fan-out killed at ${atKill} of ${total} deliveries; after restart: ${after.n} rows for ${after.distinct_events} events`,
    );
    expect(after).toEqual({ n: total, distinct_events: total });
  }, 180_000);
});
