import { afterAll, describe, expect, it } from 'vitest';
import { adminSession, TEST_ADMIN_PASSWORD, uniqueEmail } from '../helpers/api.js';
import { type EventRecorder, recordEvents } from '../helpers/events.js';
import { type OwnPipeline, ownPipeline } from '../helpers/pipeline.js';
import { indexed, startPlatform, type TestPlatform } from '../helpers/platform.js';
import { type Receiver, startReceiver } from '../helpers/receiver.js';

const ADMIN_EMAIL = uniqueEmail('disable-admin');
const ADMIN_PASSWORD = TEST_ADMIN_PASSWORD;
let platform: TestPlatform | undefined;
let receiver: Receiver | undefined;
let recorder: EventRecorder | undefined;
let pipeline: OwnPipeline | undefined;
afterAll(async () => {
  await platform?.stop();
  await receiver?.close();
  await recorder?.stop();
  await pipeline?.remove();
});

// Its own delivery workers with a 2-second failure window, on a queue and consumer groups of its own.
describe('a subscription whose deliveries keep failing', () => {
  it('is disabled after the configured period with no success, with the reason stored and an event published', async () => {
    recorder = await recordEvents();
    pipeline = await ownPipeline('auto-disable');
    platform = await startPlatform(
      {
        ...pipeline.env,
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        WEBHOOK_DISABLE_AFTER_SECONDS: '2',
        WEBHOOK_RETRY_SCHEDULE: '1,1,1,1,1',
        WEBHOOK_RETRY_JITTER: '0',
      },
      { webhooks: true },
    );
    receiver = await startReceiver(() => ({ status: 500 }));
    const { client, token } = await adminSession(platform.baseUrl, ADMIN_EMAIL);
    const sub = await client.call<{ id: string }>('POST', '/v1/webhooks/subscriptions', {
      token,
      body: { url: receiver.url, event_types: ['webhook.test'] },
    });
    await indexed(platform, sub.body.id);
    await client.call('POST', `/v1/webhooks/subscriptions/${sub.body.id}/test`, { token });

    const [event] = await recorder.waitFor(
      (e) =>
        e.envelope.type === 'webhook.subscription.disabled' &&
        (e.envelope.data as { subscription_id: string }).subscription_id === sub.body.id,
      { timeoutMs: 20_000 },
    );
    expect(event?.envelope.data).toMatchObject({ reason: 'deliveries kept failing', url: receiver.url });
    const after = await client.call<{ enabled: boolean; disabled_reason: string; failing_since: string }>(
      'GET',
      `/v1/webhooks/subscriptions/${sub.body.id}`,
      { token },
    );
    expect(after.body.enabled).toBe(false);
    expect(after.body.disabled_reason).toMatch(/failed for 2 seconds without a success/);
    // Fewer than the 6 attempts of the schedule reached the receiver: the rest were not sent. Once the
    // delivery is dead (its next attempt found the subscription disabled), no attempt can follow.
    await expect
      .poll(
        async () =>
          (
            await client.call<{ items: { status: string }[] }>(
              'GET',
              `/v1/webhooks/deliveries?subscription_id=${sub.body.id}`,
              { token },
            )
          ).body.items.map((delivery) => delivery.status),
        { timeout: 20_000, interval: 200 },
      )
      .toEqual(['dead']);
    expect(receiver.requests.length).toBeLessThan(6);
    await client.call('DELETE', `/v1/webhooks/subscriptions/${sub.body.id}`, { token });
  }, 60_000);
});
