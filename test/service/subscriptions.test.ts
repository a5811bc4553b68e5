import { afterAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { createSubscription } from '../../src/webhooks/subscriptions/create.js';
import { deleteSubscription } from '../../src/webhooks/subscriptions/delete.js';
import { getSubscription, listSubscriptions } from '../../src/webhooks/subscriptions/read.js';
import { rotateSecret } from '../../src/webhooks/subscriptions/rotate-secret.js';
import { sendTestEvent } from '../../src/webhooks/subscriptions/test-event.js';
import { updateSubscription } from '../../src/webhooks/subscriptions/update.js';
import { serviceDeps } from '../helpers/service.js';

// The subscription verbs called as the API, a script or a worker calls them: no HTTP, the real
// PostgreSQL and Redis of the local stack, a queue of this file's own, and every row and key it makes
// removed at the end.

const { run, deps, database, queue, close } = serviceDeps('service', { defaultMaxInFlight: 7 });
const made: string[] = [];
const url = (path: string) => `https://${run}.example.com/${path}`;
const subscribe = async (path: string, eventTypes = ['user.*']) => {
  const created = await createSubscription(deps, { url: url(path), event_types: eventTypes });
  made.push(created.subscription.id);
  return created;
};
/** The verb's validation error, for its field names. */
const refusal = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
};

afterAll(async () => {
  for (const id of made) await deleteSubscription(deps, id).catch(() => {});
  await close();
});

describe('the subscription verbs, without HTTP', () => {
  it('create one with the defaults of their rules and a secret that is stored sealed, not as shown', async () => {
    const { subscription, circuit, secret } = await subscribe('create');
    expect(subscription).toMatchObject({ url: url('create'), eventTypes: ['user.*'], maxInFlight: 7 });
    expect(subscription.enabled).toBe(true);
    expect(circuit.state).toBe('closed');
    expect(secret).toMatch(/^whsec_/);
    const [stored] = await database.sql<{ secret: string }[]>`
      SELECT secret FROM webhook_subscriptions WHERE id = ${subscription.id}`;
    expect(stored?.secret).not.toContain(secret.slice('whsec_'.length));
    expect(deps.secrets.open(stored?.secret ?? '', subscription.id)).toBe(secret);
  });

  it('name a bad field as their input does (url, event_types, headers.X), never as HTTP would', async () => {
    const error = await refusal(
      createSubscription(deps, {
        url: 'http://plain.example.com/hooks',
        event_types: ['user.nothing'],
        headers: { 'X-Fine': 'yes', 'Webhook-Id': 'mine' },
      }),
    );
    expect(error.code).toBe('validation_failed');
    expect(error.fieldErrors?.map((e) => e.field)).toEqual(['url', 'event_types', 'headers.Webhook-Id']);
    const shape = await refusal(createSubscription(deps, { url: url('x'), event_types: [] }));
    expect(shape.fieldErrors?.map((e) => e.field)).toEqual(['event_types']);
  });

  it('change only the fields given; enabling one clears why it was disabled', async () => {
    const { subscription } = await subscribe('update');
    await database.sql`
      UPDATE webhook_subscriptions SET enabled = false, disabled_reason = 'gone', disabled_at = now(),
        failing_since = now() WHERE id = ${subscription.id}`;
    const described = await updateSubscription(deps, subscription.id, { description: 'the billing service' });
    expect(described.subscription).toMatchObject({
      description: 'the billing service',
      url: url('update'),
      enabled: false,
      disabledReason: 'gone',
    });
    const enabled = await updateSubscription(deps, subscription.id, { enabled: true });
    expect(enabled.subscription).toMatchObject({
      enabled: true,
      disabledReason: null,
      disabledAt: null,
      failingSince: null,
      description: 'the billing service',
    });
  });

  it('rotate a secret: the new one is shown, the old one kept for the overlap', async () => {
    const { subscription, secret } = await subscribe('rotate');
    const rotated = await rotateSecret(deps, subscription.id);
    expect(rotated.secret).not.toBe(secret);
    const [row] = await database.sql<{ previous: string; expires_in: number }[]>`
      SELECT previous_secret AS previous,
        extract(epoch FROM previous_secret_expires_at - now())::int AS expires_in
      FROM webhook_subscriptions WHERE id = ${subscription.id}`;
    expect(deps.secrets.open(row?.previous ?? '', subscription.id)).toBe(secret);
    expect(row?.expires_in).toBeGreaterThan(3_500);
    expect(row?.expires_in).toBeLessThanOrEqual(3_600);
  });

  it('list by the event types a subscription would receive, newest first', async () => {
    const sessions = await subscribe('list-sessions', ['user.session.*']);
    const everything = await subscribe('list-all', ['*']);
    const mine = { limit: 200, url: `${run}.example.com/list-` };
    const found = await listSubscriptions(deps, { ...mine, eventType: 'user.session.revoked' });
    expect(found.items.map((item) => item.subscription.id)).toEqual([
      everything.subscription.id,
      sessions.subscription.id,
    ]);
    const registered = await listSubscriptions(deps, { ...mine, eventType: 'user.registered' });
    expect(registered.items.map((item) => item.subscription.id)).toEqual([everything.subscription.id]);
  });

  it('send a test event: its delivery stored and its job queued under the delivery id', async () => {
    const { subscription } = await subscribe('test-event');
    const sent = await sendTestEvent(deps, subscription.id, { type: 'system', id: null });
    const [delivery] = await database.sql<{ status: string; event_type: string }[]>`
      SELECT status, event_type FROM webhook_deliveries WHERE id = ${sent.deliveryId}`;
    expect(delivery).toEqual({ status: 'pending', event_type: 'webhook.test' });
    expect(await queue.getJobState(sent.deliveryId)).toBe('waiting');
  });

  it('delete one with its deliveries; then it is not found', async () => {
    const { subscription } = await subscribe('delete');
    const sent = await sendTestEvent(deps, subscription.id, { type: 'system', id: null });
    await deleteSubscription(deps, subscription.id);
    const left = await database.sql`SELECT 1 FROM webhook_deliveries WHERE id = ${sent.deliveryId}`;
    expect(left).toHaveLength(0);
    expect((await refusal(getSubscription(deps, subscription.id))).code).toBe('not_found');
    expect((await refusal(deleteSubscription(deps, subscription.id))).code).toBe('not_found');
  });
});
