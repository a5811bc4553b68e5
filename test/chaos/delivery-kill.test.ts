import { afterAll, describe, expect, it, vi } from 'vitest';
import { adminSession, TEST_ADMIN_PASSWORD, uniqueEmail } from '../helpers/api.js';
import { uniqueSuffix } from '../helpers/env.js';
import { type OwnPipeline, ownPipeline } from '../helpers/pipeline.js';
import { indexed, startPlatform, type TestPlatform } from '../helpers/platform.js';
import { type SpawnedProcess, spawnProcess } from '../helpers/process.js';
import { produceProfileEvents } from '../helpers/produce.js';
import { type CountingReceiver, startCountingReceiver } from '../helpers/receiver.js';

const ADMIN_EMAIL = uniqueEmail('kill-admin');
const ADMIN_PASSWORD = TEST_ADMIN_PASSWORD;
let platform: TestPlatform | undefined;
let receiver: CountingReceiver | undefined;
let worker: SpawnedProcess | undefined;
let cleanup: (() => Promise<unknown>) | undefined;
let pipeline: OwnPipeline | undefined;
afterAll(async () => {
  await worker?.terminate('SIGKILL');
  await cleanup?.();
  await platform?.stop();
  await receiver?.close();
  await pipeline?.remove();
});

describe('delivery workers killed', () => {
  it('SIGKILL five times while 5,000 deliveries are in flight: every delivery reaches the receiver at least once', async () => {
    // API, relay and fan-out here; the delivery workers in a separate process that is killed.
    pipeline = await ownPipeline('delivery-kill');
    platform = await startPlatform(
      { ADMIN_EMAIL, ADMIN_PASSWORD, ...pipeline.env },
      { webhooks: 'fanout-only' },
    );
    const marker = `kill${uniqueSuffix()}`;
    receiver = await startCountingReceiver(marker);
    const { seen } = receiver;
    const { client, token } = await adminSession(platform.baseUrl, ADMIN_EMAIL);
    const sub = await client.call<{ id: string }>('POST', '/v1/webhooks/subscriptions', {
      token,
      body: { url: receiver.url, event_types: ['user.profile.updated'] },
    });
    cleanup = () => client.call('DELETE', `/v1/webhooks/subscriptions/${sub.body.id}`, { token });
    await indexed(platform, sub.body.id);

    const env = {
      ...pipeline.env,
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      DELIVERY_CONCURRENCY: '50',
    };
    worker = await spawnProcess('delivery', env);
    const total = 5_000;
    const events = await produceProfileEvents(total, marker);

    for (let kill = 0; kill < 5; kill++) {
      // Killed part-way through: once this process has delivered some hundreds more.
      const before = seen.size;
      await vi.waitFor(() => expect(seen.size).toBeGreaterThan(before + 300), {
        timeout: 60_000,
        interval: 10,
      });
      worker.child.kill('SIGKILL');
      await worker.terminate();
      worker = await spawnProcess('delivery', env);
    }

    await expect.poll(() => seen.size, { timeout: 120_000, interval: 250 }).toBe(total);
    const duplicates = receiver.duplicates();
    console.log(
      `delivery workers killed 5 times: ${seen.size} of ${total} delivered, ${duplicates} duplicate deliveries`,
    );
    const missing = events.filter((event) => !seen.has(event.id));
    expect(missing.map((event) => event.id)).toEqual([]);
  }, 240_000);
});
