import { Queue } from 'bullmq';
import type { Message } from 'kafkajs';
import { Webhook } from 'standardwebhooks';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { z } from 'zod';
import { buildEvent, messageKeyOf, systemMeta } from '../../src/events/envelope.js';
import { allTopics, topics } from '../../src/events/topics.js';
import { createKafka } from '../../src/kafka/client.js';
import { startGroupAtEnd } from '../../src/kafka/topics.js';
import { createRedis } from '../../src/redis.js';
import type { PublicDelivery, PublicDeliveryDetail } from '../../src/webhooks/deliveries/schema.js';
import { newSigningSecret, verifyWebhook } from '../../src/webhooks/delivery/signing.js';
import { linesKey } from '../../src/webhooks/flow/model.js';
import { sweepLostDeliveries } from '../../src/webhooks/queue/sweeper.js';
import { resealSecrets } from '../../src/webhooks/subscriptions/reseal-secrets.js';
import type { PublicSubscriptionWithSecret } from '../../src/webhooks/subscriptions/schema.js';
import { SecretBox } from '../../src/webhooks/subscriptions/secret-box.js';
import { notifySubscriptionsChanged } from '../../src/webhooks/subscriptions/subscription-index.js';
import {
  type ApiClient,
  adminSession,
  apiClient,
  signedUpUser,
  TEST_ADMIN_PASSWORD,
  type Tokens,
  uniqueEmail,
} from '../helpers/api.js';
import { insertTestDelivery } from '../helpers/deliveries.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { type EventRecorder, recordEvents, TEST_GARBAGE_HEADER } from '../helpers/events.js';
import { testLogger } from '../helpers/logger.js';
import { scrape } from '../helpers/metrics.js';
import { startPlatform, type TestPlatform, webhooksOf } from '../helpers/platform.js';
import { type Receiver, startReceiver } from '../helpers/receiver.js';

const ADMIN_EMAIL = uniqueEmail('hooks-admin');
const SECRETS_KEY_A = 'first-passphrase-for-webhook-secrets-in-tests';
const SECRETS_KEY_B = 'second-passphrase-for-webhook-secrets-in-tests';
const ADMIN_PASSWORD = TEST_ADMIN_PASSWORD;
let platform: TestPlatform;
const kafka = createKafka({
  brokers: testConfig.KAFKA_BROKERS,
  clientId: 'test-webhooks',
  logger: testLogger,
});
const kafkaAdmin = kafka.admin();
let recorder: EventRecorder;
let admin: { client: ApiClient; token: string };
const receivers: Receiver[] = [];
const subscriptions: string[] = [];

// A consumer group and a queue of this file's own: it reads only the events produced from now on,
// whatever backlog other runs left on the topics, and leaves neither behind.
const run = uniqueSuffix();
const FANOUT_GROUP_ID = `test-webhooks-${run}`;
const WEBHOOK_QUEUE = `test-webhooks-${run}`;

beforeAll(async () => {
  recorder = await recordEvents();
  await kafkaAdmin.connect();
  await startGroupAtEnd(kafka, FANOUT_GROUP_ID, allTopics);
  platform = await startPlatform(
    {
      FANOUT_GROUP_ID,
      WEBHOOK_QUEUE,
      ADMIN_EMAIL,
      ADMIN_PASSWORD,
      WEBHOOK_RETRY_SCHEDULE: '1,1,1',
      WEBHOOK_RETRY_JITTER: '0',
      WEBHOOK_TIMEOUT_MS: '1500',
      WEBHOOK_SECRET_OVERLAP_SECONDS: '3',
      WEBHOOK_RETRY_AFTER_MAX_SECONDS: '5',
      // The retry schedule's tests fail endpoints on purpose: the breaker (tested on its own) stays closed.
      WEBHOOK_BREAKER_FAILURES: '1000',
      // Every flow of this file runs with the signing secrets encrypted at rest.
      WEBHOOK_SECRETS_KEYS: SECRETS_KEY_A,
    },
    { webhooks: true },
  );
  admin = await adminSession(platform.baseUrl, ADMIN_EMAIL);
});
afterAll(async () => {
  for (const id of subscriptions)
    await admin?.client.call('DELETE', `/v1/webhooks/subscriptions/${id}`, { token: admin.token });
  await platform?.stop();
  // Once the platform has stopped: a job it added on its way out would otherwise bring the queue back.
  const leftover = new Queue(WEBHOOK_QUEUE, {
    connection: createRedis(testConfig.REDIS_URL, 'queue', 'cleanup'),
  });
  await leftover.obliterate({ force: true });
  const redis = await leftover.client;
  await redis.del(linesKey(WEBHOOK_QUEUE));
  await leftover.close();
  await recorder?.stop();
  for (const receiver of receivers) await receiver.close();
  await kafkaAdmin.deleteGroups([FANOUT_GROUP_ID]).catch(() => {});
  await kafkaAdmin.disconnect();
});

/** A subscription as the API answers it when made (its one public schema). */
type Subscription = z.infer<typeof PublicSubscriptionWithSecret>;

/** A delivery of a stored webhook.test event whose attempt was due 10 minutes ago, with no job. */
const insertOverdue = (subscriptionId: string, deliveryId?: string) =>
  insertTestDelivery(platform.running.deps.sql, subscriptionId, {
    deliveryId,
    message: 'lost',
    dueMinutesAgo: 10,
  });

/** A `user.profile.updated` event of `userId` whose new name is `name`. */
const profileEvent = (userId: string, name: string) =>
  buildEvent({
    type: 'user.profile.updated',
    userId,
    actor: { type: 'user', id: userId },
    meta: systemMeta,
    data: { changes: { name: { old: 'before', new: name } } },
  });

/** Sends messages to the user-changes topic in one request, as a producer would. */
async function sendToUserChanges(messages: Message[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic: topics.userChanges, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

async function receiver(...args: Parameters<typeof startReceiver>) {
  const started = await startReceiver(...args);
  receivers.push(started);
  return started;
}

/** The platform's in-memory subscription index (fan-out and delivery share it). */
const webhooks = () => webhooksOf(platform);
const subscriptionIndex = () => webhooks().index;

/** Waits until the platform's subscription index holds these signing secrets of the subscription. */
const indexedSecrets = (id: string, secrets: string[]) =>
  vi.waitFor(() => expect(subscriptionIndex().get(id)?.secrets).toEqual(secrets), {
    timeout: 5_000,
    interval: 20,
  });

async function subscribe(url: string, eventTypes: string[], extra: Record<string, unknown> = {}) {
  const answer = await admin.client.call<Subscription>('POST', '/v1/webhooks/subscriptions', {
    token: admin.token,
    body: { url, event_types: eventTypes, ...extra },
  });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  subscriptions.push(answer.body.id);
  // Every process reloads its subscription index on change: wait until this one's holds it.
  await indexedSecrets(answer.body.id, [answer.body.secret]);
  return answer.body;
}

/** A delivery with its attempts as the API answers it (its one public schema). */
type Delivery = z.infer<typeof PublicDeliveryDetail>;

async function deliveriesOf(subscriptionId: string) {
  const answer = await admin.client.call<{ items: z.infer<typeof PublicDelivery>[] }>(
    'GET',
    `/v1/webhooks/deliveries?subscription_id=${subscriptionId}&limit=200`,
    { token: admin.token },
  );
  return answer.body.items;
}

async function deliveryWhen(
  subscriptionId: string,
  done: (d: Delivery) => boolean,
  timeoutMs = 20_000,
): Promise<Delivery> {
  return vi.waitFor(
    async () => {
      const [first] = await deliveriesOf(subscriptionId);
      if (!first) throw new Error('no delivery');
      const detail = await admin.client.call<Delivery>('GET', `/v1/webhooks/deliveries/${first.id}`, {
        token: admin.token,
      });
      if (!done(detail.body)) throw new Error(`delivery not as expected: ${JSON.stringify(detail.body)}`);
      return detail.body;
    },
    { timeout: timeoutMs, interval: 200 },
  );
}

describe('fan-out and signed delivery', () => {
  it('a user registers → a subscribed receiver gets user.registered, signed; a non-matching one gets nothing', async () => {
    const matching = await receiver();
    const other = await receiver();
    const sub = await subscribe(matching.url, ['user.registered']);
    const otherSub = await subscribe(other.url, ['user.role.changed']);
    const user = await signedUpUser(platform.baseUrl, 'hooked');

    const [request] = await matching.waitFor(1, 20_000, (r) => r.body.includes(user.email));
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['user-agent']).toMatch(/^hookline/);
    const payload = verifyWebhook(request?.body ?? '', request?.headers ?? {}, sub.secret) as {
      type: string;
      timestamp: string;
      user_id: string;
      actor: { type: string; id: string | null };
      data: { email: string };
    };
    expect(Object.keys(payload)).toEqual(['type', 'timestamp', 'user_id', 'actor', 'data']);
    expect(payload.type).toBe('user.registered');
    expect(payload.user_id).toBe(user.id);
    expect(payload.actor).toEqual({ type: 'user', id: user.id });
    expect(payload.data.email).toBe(user.email);
    // The official Standard Webhooks library agrees.
    expect(
      new Webhook(sub.secret).verify(request?.body ?? '', request?.headers as Record<string, string>),
    ).toMatchObject({
      type: 'user.registered',
    });
    const [event] = await recorder.waitFor(
      (e) => e.envelope.user_id === user.id && e.envelope.type === 'user.registered',
    );
    expect(request?.headers['webhook-id']).toBe(event?.envelope.id);

    // The fan-out makes every delivery of an event in one transaction, which has committed since the
    // matching one was sent: the other subscription has no delivery of it, so nothing can reach it.
    const toOther = await deliveriesOf(otherSub.id);
    expect(toOther.filter((d) => d.event_id === event?.envelope.id)).toEqual([]);
    expect(other.requests.filter((r) => r.body.includes(user.email))).toEqual([]);
  });

  it('wildcards match as documented: user.session.* gets revocations only, * gets everything', async () => {
    const sessions = await receiver();
    const everything = await receiver();
    await subscribe(sessions.url, ['user.session.*']);
    await subscribe(everything.url, ['*']);
    const user = await signedUpUser(platform.baseUrl, 'wild');
    const second = await user.client.call<Tokens>('POST', '/v1/auth/login', {
      body: { email: user.email, password: user.password },
    });
    await user.client.call('DELETE', `/v1/me/sessions/${second.body.session_id}`, {
      token: user.tokens.access_token,
    });

    const mine = (r: { body: string }) => r.body.includes(user.id) || r.body.includes(user.email);
    await everything.waitFor(4, 20_000, mine); // registered, login, login, session.revoked
    const types = (rs: { body: string }[]) =>
      rs.map((r) => (JSON.parse(r.body) as { type: string }).type).sort();
    const [revoked] = await sessions.waitFor(1, 20_000, (r) => r.body.includes(second.body.session_id));
    expect(JSON.parse(revoked?.body ?? '{}')).toMatchObject({ type: 'user.session.revoked' });
    expect(types(everything.requests.filter(mine))).toEqual([
      'user.login',
      'user.login',
      'user.registered',
      'user.session.revoked',
    ]);
    expect(types(sessions.requests.filter(mine))).toEqual(['user.session.revoked']);
  });

  it('an event read twice in one batch (a producer retry) is delivered once, and the partition goes on', async () => {
    const target = await receiver();
    const sub = await subscribe(target.url, ['user.profile.updated']);
    const userId = uuidv7();
    const twice = profileEvent(userId, 'twice');
    const next = profileEvent(userId, 'next');
    // One request, so one batch for the fan-out: the same event twice, then another on its partition.
    await sendToUserChanges(
      [twice, twice, next].map((e) => ({ key: messageKeyOf(e), value: JSON.stringify(e) })),
    );
    const sent = await target.waitFor(2, 20_000, (r) => r.body.includes(userId));
    const names = sent.map(
      (r) => (JSON.parse(r.body) as { data: { changes: { name: { new: string } } } }).data.changes.name.new,
    );
    expect(names.sort()).toEqual(['next', 'twice']);
    // The subscription takes every user's profile updates, so other test files' events reach it too:
    // count the deliveries of these two events only.
    const deliveries = await deliveriesOf(sub.id);
    expect(deliveries.filter((d) => d.event_id === twice.id)).toHaveLength(1);
    expect(deliveries.filter((d) => d.event_id === next.id)).toHaveLength(1);
  });

  it('an event that occurred before the subscription existed is not delivered to it (a fan-out behind reads such events)', async () => {
    const userId = uuidv7();
    const older = profileEvent(userId, 'before the subscription');
    const target = await receiver();
    const sub = await subscribe(target.url, ['user.profile.updated']);
    const newer = profileEvent(userId, 'after the subscription');
    // Same key, so the same partition, read in this order: the older event first.
    await sendToUserChanges([older, newer].map((e) => ({ key: messageKeyOf(e), value: JSON.stringify(e) })));
    const [sent] = await target.waitFor(1, 20_000, (r) => r.body.includes(userId));
    expect(sent?.headers['webhook-id']).toBe(newer.id);
    expect(target.requests.filter((r) => r.body.includes(older.id))).toEqual([]);
    expect((await deliveriesOf(sub.id)).filter((d) => d.event_id === older.id)).toEqual([]);
  });

  it('a message that is not a valid event is skipped and counted, and the event after it is delivered', async () => {
    const target = await receiver();
    await subscribe(target.url, ['user.profile.updated']);
    const userId = uuidv7();
    const after = profileEvent(userId, 'after the garbage');
    const invalid = async () =>
      (await scrape(platform.baseUrl)).value('hookline_webhook_invalid_events_total');
    const before = await invalid();
    // Same key, so the same partition: the garbage first, then the event.
    const key = messageKeyOf(after);
    await sendToUserChanges([
      { key, value: '{"not":"an event"', headers: { [TEST_GARBAGE_HEADER]: 'yes' } },
      { key, value: JSON.stringify(after) },
    ]);
    const [sent] = await target.waitFor(1, 20_000, (r) => r.body.includes(userId));
    expect(sent?.headers['webhook-id']).toBe(after.id);
    expect(await invalid()).toBe(before + 1);
  });

  it('the test endpoint sends webhook.test to the subscription now', async () => {
    const target = await receiver();
    const sub = await subscribe(target.url, ['user.registered']);
    const answer = await admin.client.call('POST', `/v1/webhooks/subscriptions/${sub.id}/test`, {
      token: admin.token,
    });
    expect(answer.status).toBe(202);
    // (other test files register users meanwhile: their user.registered events reach it too)
    const [request] = await target.waitFor(1, 20_000, (r) => r.body.includes('"type":"webhook.test"'));
    expect(verifyWebhook(request?.body ?? '', request?.headers ?? {}, sub.secret)).toMatchObject({
      type: 'webhook.test',
      data: { subscription_id: sub.id },
    });
  });
});

describe('retries and dead letters', () => {
  it('a receiver failing with 500 then recovering: attempts follow the schedule, each recorded, then success', async () => {
    const flaky = await receiver((_, index) => (index < 2 ? { status: 500, body: 'boom' } : { status: 204 }));
    const sub = await subscribe(flaky.url, ['webhook.test']);
    await admin.client.call('POST', `/v1/webhooks/subscriptions/${sub.id}/test`, { token: admin.token });
    const delivery = await deliveryWhen(sub.id, (d) => d.status === 'succeeded');
    expect(delivery.attempt_log.map((a) => [a.number, a.status_code])).toEqual([
      [1, 500],
      [2, 500],
      [3, 204],
    ]);
    expect(delivery.attempt_log[0]?.response_excerpt).toBe('boom');
    const times = flaky.requests.map((r) => r.at);
    // Schedule "1,1,1" without jitter: each retry about a second after the previous attempt.
    expect((times[1] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(900);
    expect((times[2] ?? 0) - (times[1] ?? 0)).toBeGreaterThanOrEqual(900);
    const ids = new Set(flaky.requests.map((r) => r.headers['webhook-id']));
    expect(ids.size).toBe(1); // the same webhook-id on every retry
  });

  it('always failing: dead after the last attempt; retry and recover re-deliver once the receiver is fixed', async () => {
    const broken = await receiver(() => ({ status: 503 }));
    const sub = await subscribe(broken.url, ['webhook.test']);
    await admin.client.call('POST', `/v1/webhooks/subscriptions/${sub.id}/test`, { token: admin.token });
    await admin.client.call('POST', `/v1/webhooks/subscriptions/${sub.id}/test`, { token: admin.token });
    const items = await vi.waitFor(
      async () => {
        const items = await deliveriesOf(sub.id);
        expect(items.map((d) => d.status)).toEqual(['dead', 'dead']);
        return items;
      },
      { timeout: 20_000, interval: 200 },
    );
    const first = await admin.client.call<Delivery>('GET', `/v1/webhooks/deliveries/${items[1]?.id}`, {
      token: admin.token,
    });
    expect(first.body.attempt_log.map((a) => a.status_code)).toEqual([503, 503, 503, 503]);

    const listed = await admin.client.call<{ items: unknown[] }>(
      'GET',
      `/v1/webhooks/deliveries?subscription_id=${sub.id}&status=dead`,
      {
        token: admin.token,
      },
    );
    expect(listed.body.items).toHaveLength(2);

    broken.setBehaviour(() => ({ status: 200 }));
    const retried = await admin.client.call('POST', `/v1/webhooks/deliveries/${items[0]?.id}/retry`, {
      token: admin.token,
    });
    expect(retried.status).toBe(202);
    await deliveryWhen(sub.id, (d) => d.id === items[0]?.id && d.status === 'succeeded');

    const recovered = await admin.client.call<{ recovered: number }>(
      'POST',
      `/v1/webhooks/subscriptions/${sub.id}/recover`,
      {
        token: admin.token,
        body: { since: new Date(Date.now() - 3_600_000).toISOString() },
      },
    );
    expect(recovered.body).toEqual({ recovered: 1 });
    const statusOfFirst = async () =>
      (
        await admin.client.call<Delivery>('GET', `/v1/webhooks/deliveries/${items[1]?.id}`, {
          token: admin.token,
        })
      ).body.status;
    await expect.poll(statusOfFirst, { timeout: 10_000, interval: 200 }).toBe('succeeded');
  });

  it('429 honours Retry-After (clamped)', async () => {
    const limited = await receiver((_, index) =>
      index === 0 ? { status: 429, headers: { 'retry-after': '3' } } : { status: 200 },
    );
    const sub = await subscribe(limited.url, ['webhook.test']);
    await admin.client.call('POST', `/v1/webhooks/subscriptions/${sub.id}/test`, { token: admin.token });
    await deliveryWhen(sub.id, (d) => d.status === 'succeeded');
    const [first, second] = limited.requests;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(2_800);
  });

  it('410 disables the subscription, with the reason, and publishes webhook.subscription.disabled', async () => {
    const gone = await receiver(() => ({ status: 410 }));
    const sub = await subscribe(gone.url, ['webhook.test']);
    await admin.client.call('POST', `/v1/webhooks/subscriptions/${sub.id}/test`, { token: admin.token });
    const delivery = await deliveryWhen(sub.id, (d) => d.status === 'dead');
    expect(delivery.attempts).toBe(1);
    const after = await admin.client.call<Subscription>('GET', `/v1/webhooks/subscriptions/${sub.id}`, {
      token: admin.token,
    });
    expect(after.body).toMatchObject({ enabled: false, disabled_reason: 'the endpoint answered 410 Gone' });
    const [event] = await recorder.waitFor(
      (e) =>
        e.envelope.type === 'webhook.subscription.disabled' &&
        (e.envelope.data as { subscription_id: string }).subscription_id === sub.id,
    );
    expect(event?.topic).toBe('platform-events');

    const enabled = await admin.client.call<Subscription>(
      'POST',
      `/v1/webhooks/subscriptions/${sub.id}/enable`,
      { token: admin.token },
    );
    expect(enabled.body).toMatchObject({ enabled: true, disabled_reason: null });
  });

  it('a redirect is not followed: a 3xx is a failed attempt', async () => {
    const target = await receiver();
    const redirecting = await receiver(() => ({ status: 302, headers: { location: target.url } }));
    const sub = await subscribe(redirecting.url, ['webhook.test']);
    await admin.client.call('POST', `/v1/webhooks/subscriptions/${sub.id}/test`, { token: admin.token });
    const delivery = await deliveryWhen(sub.id, (d) => d.attempt_log.length >= 1);
    expect(delivery.attempt_log[0]?.status_code).toBe(302);
    expect(delivery.status).not.toBe('succeeded');
    expect(target.requests).toEqual([]);
  });

  it('a receiver that never answers times out', async () => {
    const silent = await receiver(() => ({ never: true }));
    const sub = await subscribe(silent.url, ['webhook.test']);
    await admin.client.call('POST', `/v1/webhooks/subscriptions/${sub.id}/test`, { token: admin.token });
    const delivery = await deliveryWhen(sub.id, (d) => d.attempt_log.length >= 1);
    expect(delivery.attempt_log[0]).toMatchObject({ status_code: null, error_kind: 'timeout' });
  });

  it('a 100 MB answer is cut at the cap, and the worker’s memory does not grow by it', async () => {
    const huge = await receiver(() => ({ stream: 100 * 1024 * 1024 }));
    const sub = await subscribe(huge.url, ['webhook.test']);
    global.gc?.();
    const before = process.memoryUsage();
    await admin.client.call('POST', `/v1/webhooks/subscriptions/${sub.id}/test`, { token: admin.token });
    const delivery = await deliveryWhen(sub.id, (d) => d.status === 'succeeded');
    const after = process.memoryUsage();
    expect(delivery.attempt_log[0]?.status_code).toBe(200);
    expect(delivery.attempt_log[0]?.response_excerpt?.length).toBe(4_096);
    // The receiver could push only what the socket buffers took before the worker hung up.
    await vi.waitFor(() => expect(huge.streamsOpen()).toBe(0), { timeout: 5_000, interval: 20 });
    expect(huge.bytesWritten()).toBeLessThan(16 * 1024 * 1024);
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(8 * 1024 * 1024);
  });
});

describe('lost jobs', () => {
  it('a delivery whose job was lost is found overdue and queued again; one with a live job is left alone', async () => {
    const target = await receiver();
    const sub = await subscribe(target.url, ['webhook.test']);
    const { sql } = platform.running.deps;
    const { queue, flow } = webhooks();
    const lost = await insertOverdue(sub.id); // its job never reached Redis
    const queued = await insertOverdue(sub.id); // its job is waiting (delayed) in the queue
    await queue.add(
      'deliver',
      { deliveryId: queued.deliveryId, generation: 0 },
      { jobId: queued.deliveryId, delay: 3_600_000 },
    );

    const { requeued } = await sweepLostDeliveries({ sql, queue, flow, retries: 3 }, { graceSeconds: 300 });
    expect(requeued).toBe(1);
    const [request] = await target.waitFor(1);
    expect(request?.headers['webhook-id']).toBe(lost.eventId);
    // The live one was left as it was: its job is still delayed by an hour, under the same generation.
    expect(await queue.getJobState(queued.deliveryId)).toBe('delayed');
    const [row] = await sql<{ generation: number }[]>`
      SELECT generation FROM webhook_deliveries WHERE id = ${queued.deliveryId}`;
    expect(row?.generation).toBe(0);
    expect(target.requests).toHaveLength(1);
    await queue.remove(queued.deliveryId);
  });
});

describe('lost jobs behind a long line', () => {
  it('a sweep goes on where the last one stopped: a lost delivery behind more live ones than a sweep looks at is found', async () => {
    const target = await receiver();
    const sub = await subscribe(target.url, ['webhook.test']);
    const { sql } = platform.running.deps;
    const { queue, flow } = webhooks();
    const start = uuidv7(); // below every delivery made here
    const ids = [uuidv7(), uuidv7(), uuidv7()];
    // Two overdue deliveries with live (delayed) jobs, then one whose job was lost.
    for (const [i, id] of ids.entries()) {
      await insertOverdue(sub.id, id);
      if (i < 2)
        await queue.add('deliver', { deliveryId: id, generation: 0 }, { jobId: id, delay: 3_600_000 });
    }
    const deps = { sql, queue, flow, retries: 3 };
    const first = await sweepLostDeliveries(deps, { graceSeconds: 300, limit: 2, after: start });
    expect(first).toEqual({ requeued: 0, last: ids[1] });
    const second = await sweepLostDeliveries(deps, { graceSeconds: 300, limit: 2, after: first.last ?? '' });
    expect(second).toEqual({ requeued: 1, last: ids[2] });
    expect(await target.waitFor(1)).toHaveLength(1);
    for (const id of ids.slice(0, 2)) await queue.remove(id);
  });
});

describe('secret rotation', () => {
  it('during the overlap both secrets verify; after it only the new one', async () => {
    const target = await receiver();
    const sub = await subscribe(target.url, ['webhook.test']);
    const rotated = await admin.client.call<Subscription>(
      'POST',
      `/v1/webhooks/subscriptions/${sub.id}/rotate-secret`,
      {
        token: admin.token,
      },
    );
    expect(rotated.body.secret).not.toBe(sub.secret);
    await indexedSecrets(sub.id, [rotated.body.secret, sub.secret]);
    await admin.client.call('POST', `/v1/webhooks/subscriptions/${sub.id}/test`, { token: admin.token });
    const [during] = await target.waitFor(1);
    expect(String(during?.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(() => verifyWebhook(during?.body ?? '', during?.headers ?? {}, sub.secret)).not.toThrow();
    expect(() => verifyWebhook(during?.body ?? '', during?.headers ?? {}, rotated.body.secret)).not.toThrow();

    // The overlap (WEBHOOK_SECRET_OVERLAP_SECONDS, 3 s) ends within the 3.2 s this test gives it: the
    // index drops the previous secret (the poll's last look comes after its timeout, at 3.2 s).
    await expect
      .poll(() => subscriptionIndex().get(sub.id)?.secrets, { timeout: 3_200, interval: 50 })
      .toEqual([rotated.body.secret]);
    await admin.client.call('POST', `/v1/webhooks/subscriptions/${sub.id}/test`, { token: admin.token });
    const [, afterwards] = await target.waitFor(2);
    expect(String(afterwards?.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(() => verifyWebhook(afterwards?.body ?? '', afterwards?.headers ?? {}, sub.secret)).toThrow();
    expect(() =>
      verifyWebhook(afterwards?.body ?? '', afterwards?.headers ?? {}, rotated.body.secret),
    ).not.toThrow();
  });
});

describe('signing secrets at rest', () => {
  it('are stored encrypted; a plain one from before still signs; a key the processes lack holds deliveries back unsent until it is known', async () => {
    const { sql } = platform.running.deps;
    const stored = async (id: string) => {
      const [row] = await sql<
        { secret: string }[]
      >`SELECT secret FROM webhook_subscriptions WHERE id = ${id}`;
      return row?.secret ?? '';
    };
    const sealedTarget = await receiver();
    const legacyTarget = await receiver();
    const sealed = await subscribe(sealedTarget.url, ['webhook.test']);
    const legacy = await subscribe(legacyTarget.url, ['webhook.test']);
    const keyA = new SecretBox([SECRETS_KEY_A]);
    expect(await stored(sealed.id)).toMatch(/^enc1:[0-9a-f]{8}:/);
    expect(await stored(sealed.id)).not.toContain(sealed.secret.slice(6, 20));
    expect(keyA.open(await stored(sealed.id), sealed.id)).toBe(sealed.secret);

    // A secret stored in plain text, before encryption was configured, still signs.
    const plain = newSigningSecret();
    await sql`UPDATE webhook_subscriptions SET secret = ${plain} WHERE id = ${legacy.id}`;
    await notifySubscriptionsChanged(sql);
    await indexedSecrets(legacy.id, [plain]);
    const test = (id: string) =>
      admin.client.call('POST', `/v1/webhooks/subscriptions/${id}/test`, { token: admin.token });
    await test(legacy.id);
    const [fromLegacy] = await legacyTarget.waitFor(1);
    expect(() => verifyWebhook(fromLegacy?.body ?? '', fromLegacy?.headers ?? {}, plain)).not.toThrow();

    // Resealed under a new key the running processes do not know: nothing is sent unsigned; the
    // attempt fails and waits for its retry.
    const ids = [sealed.id, legacy.id];
    expect(
      await resealSecrets({ sql, secrets: new SecretBox([SECRETS_KEY_B, SECRETS_KEY_A]) }, { ids }),
    ).toEqual({
      resealed: 2,
      unreadable: [],
    });
    expect(await stored(legacy.id)).toMatch(/^enc1:/);
    await indexedSecrets(sealed.id, []); // unreadable: none to sign with
    await test(sealed.id);
    const waiting = await deliveryWhen(sealed.id, (d) => d.attempt_log.length >= 1);
    expect(waiting.attempt_log[0]).toMatchObject({ status_code: null, error_kind: 'secret_unavailable' });
    expect(sealedTarget.requests).toEqual([]);
    // The platform's failure, not the endpoint's: the subscription is not marked failing.
    const [health] = await sql<{ failing_since: Date | null }[]>`
      SELECT failing_since FROM webhook_subscriptions WHERE id = ${sealed.id}`;
    expect(health?.failing_since).toBeNull();

    // Once the key is known again (here: resealed back under key A), the retry goes out, signed with
    // the same secret as before; the plain one was encrypted without changing.
    expect(
      await resealSecrets({ sql, secrets: new SecretBox([SECRETS_KEY_A, SECRETS_KEY_B]) }, { ids }),
    ).toEqual({
      resealed: 2,
      unreadable: [],
    });
    const delivered = await deliveryWhen(sealed.id, (d) => d.status === 'succeeded');
    expect(delivered.attempt_log.at(-1)?.status_code).toBe(200);
    const [fromSealed] = await sealedTarget.waitFor(1);
    expect(() =>
      verifyWebhook(fromSealed?.body ?? '', fromSealed?.headers ?? {}, sealed.secret),
    ).not.toThrow();
    expect(keyA.open(await stored(legacy.id), legacy.id)).toBe(plain);
    // With only key B, the rows sealed under key A cannot be read and are reported, not touched.
    expect(await resealSecrets({ sql, secrets: new SecretBox([SECRETS_KEY_B]) }, { ids })).toEqual({
      resealed: 0,
      unreadable: [...ids].sort(),
    });
  });
});

describe('the SSRF guard', () => {
  it('refuses an address outside the allow-list at connect time, and no connection reaches it', async () => {
    const loopback6 = await receiver(undefined, { host: '::1' });
    // The allow-list of this platform is 127.0.0.0/8: ::1 is loopback outside it. (Names that resolve
    // to refused addresses are covered by the unit tests of the lookup, which send no packet.)
    const sub = await subscribe(loopback6.url, ['webhook.test']);
    await admin.client.call('POST', `/v1/webhooks/subscriptions/${sub.id}/test`, { token: admin.token });
    const delivery = await deliveryWhen(sub.id, (d) => d.attempt_log.length >= 1);
    expect(delivery.attempt_log[0]).toMatchObject({ status_code: null, error_kind: 'ssrf_blocked' });
    expect(loopback6.requests).toEqual([]);
  });
});

describe('subscription management', () => {
  const routes = (id: string) =>
    [
      ['POST', '/v1/webhooks/subscriptions', { url: 'http://127.0.0.1:9/x', event_types: ['*'] }],
      ['GET', '/v1/webhooks/subscriptions'],
      ['GET', `/v1/webhooks/subscriptions/${id}`],
      ['PATCH', `/v1/webhooks/subscriptions/${id}`, { description: 'x' }],
      ['DELETE', `/v1/webhooks/subscriptions/${id}`],
      ['POST', `/v1/webhooks/subscriptions/${id}/rotate-secret`],
      ['POST', `/v1/webhooks/subscriptions/${id}/test`],
      ['POST', `/v1/webhooks/subscriptions/${id}/enable`],
      ['POST', `/v1/webhooks/subscriptions/${id}/recover`, { since: new Date().toISOString() }],
      ['GET', '/v1/webhooks/deliveries'],
      ['GET', `/v1/webhooks/deliveries/${id}`],
      ['POST', `/v1/webhooks/deliveries/${id}/retry`],
    ] as const;

  it('is forbidden (403) to a non-admin user and to an API key without webhooks:manage, on every route', async () => {
    const sub = await subscribe('http://127.0.0.1:9/never', ['user.login']);
    const user = await signedUpUser(platform.baseUrl, 'nohooks');
    const key = await admin.client.call<{ key: string }>('POST', '/v1/api-keys', {
      token: admin.token,
      body: { name: 'audit only', scopes: ['audit:read'] },
    });
    for (const token of [user.tokens.access_token, key.body.key]) {
      for (const [method, path, body] of routes(sub.id)) {
        const answer = await admin.client.call(method, path, { token, ...(body ? { body } : {}) });
        expect(answer.status, `${method} ${path}`).toBe(403);
      }
    }
  });

  it('is allowed to an API key with webhooks:manage, until the key is revoked', async () => {
    const created = await admin.client.call<{ id: string; key: string; prefix: string }>(
      'POST',
      '/v1/api-keys',
      {
        token: admin.token,
        body: { name: 'crm sync', scopes: ['webhooks:manage'] },
      },
    );
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^hlk_/);
    const listed = await admin.client.call<{ items: { id: string; key?: string }[] }>('GET', '/v1/api-keys', {
      token: admin.token,
    });
    expect(listed.body.items.find((k) => k.id === created.body.id)).not.toHaveProperty('key');

    const made = await admin.client.call<Subscription>('POST', '/v1/webhooks/subscriptions', {
      token: created.body.key,
      body: { url: 'http://127.0.0.1:9/by-key', event_types: ['user.*'] },
    });
    expect(made.status).toBe(201);
    subscriptions.push(made.body.id);
    expect(
      (await admin.client.call('DELETE', `/v1/api-keys/${created.body.id}`, { token: admin.token })).status,
    ).toBe(204);
    const refused = await admin.client.call('GET', '/v1/webhooks/subscriptions', { token: created.body.key });
    expect(refused.status).toBe(401);
  });

  it('refuses unknown event types with the list of valid ones, and reserved headers', async () => {
    const unknown = await admin.client.call('POST', '/v1/webhooks/subscriptions', {
      token: admin.token,
      body: { url: 'http://127.0.0.1:9/x', event_types: ['user.exploded', 'user.*'] },
    });
    expect(unknown.status).toBe(400);
    const error = (unknown.body as { errors: { field: string; message: string }[] }).errors[0];
    expect(error?.field).toBe('body.event_types');
    expect(error?.message).toContain('user.exploded');
    expect(error?.message).toContain('user.registered');

    const reserved = await admin.client.call('POST', '/v1/webhooks/subscriptions', {
      token: admin.token,
      body: { url: 'http://127.0.0.1:9/x', event_types: ['*'], headers: { 'Webhook-Signature': 'forged' } },
    });
    expect(reserved.status).toBe(400);
    expect(reserved.body).toMatchObject({ errors: [{ field: 'body.headers.Webhook-Signature' }] });
  });

  it('sends the subscription’s custom headers with each delivery', async () => {
    const target = await receiver();
    const sub = await subscribe(target.url, ['webhook.test'], {
      headers: { Authorization: 'Bearer receiver-token' },
    });
    await admin.client.call('POST', `/v1/webhooks/subscriptions/${sub.id}/test`, { token: admin.token });
    const [request] = await target.waitFor(1);
    expect(request?.headers.authorization).toBe('Bearer receiver-token');
  });
});

describe('https', () => {
  it('is required unless WEBHOOK_ALLOW_HTTP is set', async () => {
    const strict = await startPlatform({ WEBHOOK_ALLOW_HTTP: 'false', ADMIN_EMAIL, ADMIN_PASSWORD });
    try {
      const client = apiClient(strict.baseUrl);
      const login = await client.call<Tokens>('POST', '/v1/auth/login', {
        body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD },
      });
      const answer = await client.call('POST', '/v1/webhooks/subscriptions', {
        token: login.body.access_token,
        body: { url: 'http://example.com/hook', event_types: ['*'] },
      });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ errors: [{ field: 'body.url', code: 'https_required' }] });
    } finally {
      await strict.stop();
    }
  });
});
