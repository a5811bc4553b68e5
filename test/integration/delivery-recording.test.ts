import { Queue } from 'bullmq';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDatabase } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createRedis } from '../../src/redis.js';
import { WebhookHttpClient } from '../../src/webhooks/delivery/http-client.js';
import { type AttemptRecord, DeliveryRecorder } from '../../src/webhooks/delivery/recorder.js';
import { newSigningSecret } from '../../src/webhooks/delivery/signing.js';
import { parseCidrs } from '../../src/webhooks/delivery/ssrf.js';
import { DeliveryWorker } from '../../src/webhooks/delivery/worker.js';
import { FlowControl } from '../../src/webhooks/flow/flow-control.js';
import { FlowGate } from '../../src/webhooks/flow/gate.js';
import { createWebhookMetrics } from '../../src/webhooks/metrics.js';
import { enqueueDeliveries } from '../../src/webhooks/queue/enqueue.js';
import { SubscriptionIndex } from '../../src/webhooks/subscriptions/subscription-index.js';
import { insertTestDelivery } from '../helpers/deliveries.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { testLogger } from '../helpers/logger.js';
import { type Answer, type Receiver, startReceiver } from '../helpers/receiver.js';

// How attempts are recorded when receivers answer what PostgreSQL cannot store, and when recording
// fails: a delivery worker of its own (own queue, own logger that keeps every line) on the real
// PostgreSQL and Redis, with real receivers on loopback. Its subscriptions take only `webhook.test`,
// which no fan-out sends, so no other test's events reach them.

const database = createDatabase({ url: testConfig.DATABASE_URL, poolSize: 5, applicationName: 'test' });
const { sql } = database;
const redis = createRedis(testConfig.REDIS_URL, 'command', 'test-recording');
const queueName = `test-recording-${uniqueSuffix()}`;
const queue = new Queue(queueName, {
  connection: createRedis(testConfig.REDIS_URL, 'queue', `${queueName}:p`),
});
const registry = new Registry();
const metrics = createWebhookMetrics(registry);
const logs: { level: number; msg: string; deliveryId?: string }[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
const index = new SubscriptionIndex(sql, testLogger);
const http = new WebhookHttpClient({
  allowedCidrs: parseCidrs('127.0.0.0/8'),
  connectionsPerOrigin: 10,
  timeoutMs: 2_000,
  connectTimeoutMs: 1_000,
  maxResponseBytes: 65_536,
  excerptBytes: 1_024,
});
const flow = new FlowControl(redis, {
  breaker: { failureThreshold: 100, cooldownMs: 1_000, maxCooldownMs: 1_000 },
  leaseMs: 7_000,
  queueName,
});
let worker: DeliveryWorker;
const receivers: Receiver[] = [];
const subscriptionIds: string[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  await migrateDatabase(database.db, sql, testLogger);
  worker = new DeliveryWorker({
    queueName,
    connection: createRedis(testConfig.REDIS_URL, 'queue', `${queueName}:w`),
    redis,
    gate: new FlowGate({ flow, queue, retries: 3, redis, sql, metrics, logger, lastAllowedMs: 60_000 }),
    queue,
    sql,
    index,
    http,
    metrics,
    logger,
    concurrency: 20,
    retry: { schedule: [1, 1, 1], jitter: 0, maxRetryAfterSeconds: 5 },
    disableAfterSeconds: 3_600,
  });
  // The index is a component of its own in a process (started before the workers): here too.
  await index.start();
  await worker.start();
});

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup().catch(() => {});
  await worker?.stop();
  await index.stop();
  if (subscriptionIds.length > 0)
    await sql`DELETE FROM webhook_subscriptions WHERE id = ANY(${subscriptionIds}::uuid[])`;
  for (const id of subscriptionIds) await flow.forget(id);
  for (const receiver of receivers) await receiver.close();
  await queue.obliterate({ force: true });
  await queue.close();
  await http.close();
  redis.disconnect();
  await database.end();
});

async function receiverWith(answer: (index: number) => Answer) {
  const receiver = await startReceiver((_, i) => answer(i));
  receivers.push(receiver);
  const id = uuidv7();
  await sql`
    INSERT INTO webhook_subscriptions (id, url, event_types, headers, metadata, enabled, secret)
    VALUES (${id}, ${receiver.url}, ${['webhook.test']}, '{}', '{}', true, ${newSigningSecret()})`;
  subscriptionIds.push(id);
  return { receiver, subscriptionId: id };
}

/** A stored `webhook.test` event and its delivery to the subscription (not queued yet). */
const deliveryTo = (subscriptionId: string) =>
  insertTestDelivery(sql, subscriptionId, { message: 'recording' });

/** Reads until `done` holds of the value read, and returns that value. */
function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await read();
      if (!done(value)) throw new Error(`not as expected in time: ${JSON.stringify(value)}`);
      return value;
    },
    { timeout: timeoutMs, interval: 100 },
  );
}

const statusesOf = (ids: string[]) =>
  sql<{ id: string; status: string; attempts: number }[]>`
    SELECT id, status, attempts FROM webhook_deliveries WHERE id = ANY(${ids}::uuid[]) ORDER BY id`;

const attemptsOf = (deliveryId: string) =>
  sql<
    {
      number: number;
      status_code: number | null;
      response_excerpt: string | null;
      error_message: string | null;
    }[]
  >`
    SELECT number, status_code, response_excerpt, error_message FROM webhook_attempts
    WHERE delivery_id = ${deliveryId} ORDER BY number`;

// gzip's magic number, bytes that are not UTF-8, and NUL twice: what a gzip, binary or UTF-16 answer holds.
const HOSTILE_BYTES = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, 0x00, 0x41]);

describe('a receiver answering bytes PostgreSQL refuses as text', () => {
  it('at the same moment as five normal ones: each normal receiver gets its event exactly once, the hostile one’s attempts are recorded', async () => {
    const hostile = await receiverWith(() => ({
      status: 500,
      headers: { 'content-type': 'application/octet-stream' },
      body: HOSTILE_BYTES,
    }));
    const normal = await Promise.all(
      [1, 2, 3, 4, 5].map(() => receiverWith(() => ({ status: 200, body: 'ok' }))),
    );
    await index.reload();
    const hostileDelivery = await deliveryTo(hostile.subscriptionId);
    const normalDeliveries = await Promise.all(normal.map((n) => deliveryTo(n.subscriptionId)));
    const all = [hostileDelivery, ...normalDeliveries];
    const ids = all.map((d) => d.deliveryId);
    // One addBulk: the six are taken at once and their attempts recorded in the same batches.
    await enqueueDeliveries(
      { queue, flow, retries: 3 },
      all.map((d) => ({
        deliveryId: d.deliveryId,
        generation: 0,
        subscriptionId: d.subscriptionId,
        maxInFlight: 20,
      })),
    );

    const final = await until(
      () => statusesOf(ids),
      (rows) =>
        rows.filter((r) => r.status === 'succeeded').length === 5 && rows.some((r) => r.status === 'dead'),
    );
    expect(final.find((r) => r.id === hostileDelivery.deliveryId)).toMatchObject({
      status: 'dead',
      attempts: 4,
    });
    for (const [i, n] of normal.entries()) {
      expect(n.receiver.requests.map((r) => r.headers['webhook-id'])).toEqual([normalDeliveries[i]?.eventId]);
    }
    expect(hostile.receiver.requests).toHaveLength(4);
    const attempts = await attemptsOf(hostileDelivery.deliveryId);
    // Every attempt recorded, its excerpt as text: NUL and bytes that are not UTF-8 became U+FFFD.
    expect(attempts).toEqual(
      [1, 2, 3, 4].map((number) => ({
        number,
        status_code: 500,
        response_excerpt: '\x1f\uFFFD\b\uFFFD\uFFFD\uFFFD\uFFFDA',
        error_message: null,
      })),
    );
    const [subscription] = await sql<{ failing_since: Date | null }[]>`
      SELECT failing_since FROM webhook_subscriptions WHERE id = ${hostile.subscriptionId}`;
    expect(subscription?.failing_since).toBeInstanceOf(Date);
    expect(logs.filter((line) => line.level >= 50)).toEqual([]);
    expect((await metrics.duplicateSends.get()).values.every((v) => v.value === 0)).toBe(true);
  });
});

describe('the attempt recorder', () => {
  it('stores every attempt of a batch the database refuses for one of them; that one without the receiver’s text, with the reason', async () => {
    const subs = await Promise.all([1, 2, 3, 4, 5, 6].map(() => receiverWith(() => ({ status: 200 }))));
    const deliveries = await Promise.all(subs.map((s) => deliveryTo(s.subscriptionId)));
    const refused: string[] = [];
    const recorder = new DeliveryRecorder(sql, {
      disableAfterSeconds: 3_600,
      maxBatch: 500,
      onDisabled: async () => {},
      onRefused: (record) => refused.push(record.deliveryId),
    });
    const record = (i: number, excerpt: string): AttemptRecord => ({
      id: uuidv7(),
      deliveryId: deliveries[i]?.deliveryId ?? '',
      subscriptionId: subs[i]?.subscriptionId ?? '',
      number: 1,
      startedAt: new Date(),
      durationMs: 5,
      statusCode: 200,
      errorKind: null,
      errorMessage: null,
      responseExcerpt: excerpt,
      status: 'succeeded',
      nextAttemptAt: null,
      gone: false,
      endpointHealth: true,
    });
    // The third carries a NUL straight to the database (as a receiver's text did before it was made storable).
    const records = deliveries.map((_, i) => record(i, i === 2 ? 'a\u0000b' : `fine ${i}`));
    const results = await Promise.allSettled(records.map((r) => recorder.record(r)));
    expect(results.map((r) => r.status)).toEqual(Array(6).fill('fulfilled'));
    expect(refused).toEqual([deliveries[2]?.deliveryId]);

    const ids = deliveries.map((d) => d.deliveryId);
    expect((await statusesOf(ids)).map((r) => r.status)).toEqual(Array(6).fill('succeeded'));
    for (const [i, delivery] of deliveries.entries()) {
      const [attempt] = await attemptsOf(delivery.deliveryId);
      if (i === 2) {
        expect(attempt).toMatchObject({ number: 1, status_code: 200, response_excerpt: null });
        expect(attempt?.error_message).toMatch(
          /could not be stored as received \(22021 invalid byte sequence for encoding "UTF8": 0x00\)/,
        );
      } else {
        expect(attempt).toEqual({
          number: 1,
          status_code: 200,
          response_excerpt: `fine ${i}`,
          error_message: null,
        });
      }
    }
  });
});

describe('an attempt sent but not recorded', () => {
  it('fails its job, logged with the delivery id; the delivery is sent again, and that send is counted as a duplicate', async () => {
    const target = await receiverWith(() => ({ status: 200 }));
    await index.reload();
    const delivery = await deliveryTo(target.subscriptionId);
    // The database refuses this delivery's attempt three times (the batch, the row, the row without
    // the receiver's text), then takes it: the first run's attempt was sent and cannot be recorded.
    const name = `test_refuse_${uniqueSuffix()}`;
    await sql.unsafe(`CREATE SEQUENCE ${name}`);
    await sql.unsafe(`
      CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.delivery_id = '${delivery.deliveryId}' AND nextval('${name}') <= 3 THEN
          RAISE EXCEPTION 'refused by the test';
        END IF;
        RETURN NEW;
      END $$`);
    await sql.unsafe(
      `CREATE TRIGGER ${name} BEFORE INSERT ON webhook_attempts FOR EACH ROW EXECUTE FUNCTION ${name}()`,
    );
    cleanups.push(() =>
      sql.unsafe(
        `DROP TRIGGER IF EXISTS ${name} ON webhook_attempts; DROP FUNCTION IF EXISTS ${name}(); DROP SEQUENCE IF EXISTS ${name}`,
      ),
    );

    await enqueueDeliveries({ queue, flow, retries: 3 }, [
      {
        deliveryId: delivery.deliveryId,
        generation: 0,
        subscriptionId: target.subscriptionId,
        maxInFlight: 20,
      },
    ]);
    const [row] = await until(
      () => statusesOf([delivery.deliveryId]),
      (rows) => rows[0]?.status === 'succeeded',
    );
    expect(row?.attempts).toBe(1);
    expect(target.receiver.requests.map((r) => r.headers['webhook-id'])).toEqual([
      delivery.eventId,
      delivery.eventId,
    ]);
    const duplicates = await metrics.duplicateSends.get();
    expect(duplicates.values.find((v) => v.labels.reason === 'unrecorded')?.value).toBe(1);
    const failures = logs.filter((line) => line.level >= 50 && line.deliveryId === delivery.deliveryId);
    expect(failures.map((line) => line.msg)).toEqual(
      expect.arrayContaining([
        'could not record a delivery attempt: the delivery will run again',
        'delivery job failed',
      ]),
    );
  });
});

describe('a custom header that can never be sent (stored before the rule refused it)', () => {
  it('ends the delivery dead, not sent, naming the header; other deliveries to the same origin still flow', async () => {
    const good = await receiverWith(() => ({ status: 200 }));
    const bad = uuidv7();
    await sql`
      INSERT INTO webhook_subscriptions (id, url, event_types, headers, metadata, enabled, secret)
      VALUES (${bad}, ${good.receiver.url}, ${['webhook.test']}, ${sql.json({ 'Keep-Alive': 'timeout=5' })}, '{}', true, ${newSigningSecret()})`;
    subscriptionIds.push(bad);
    await index.reload();
    // More than the client's 10 connections per origin: undici would count each refusal against them.
    const refused = await Promise.all(Array.from({ length: 12 }, () => deliveryTo(bad)));
    await enqueueDeliveries(
      { queue, flow, retries: 3 },
      refused.map((d) => ({ deliveryId: d.deliveryId, generation: 0, subscriptionId: bad, maxInFlight: 20 })),
    );
    const ids = refused.map((d) => d.deliveryId);
    await until(
      () => statusesOf(ids),
      (rows) => rows.length === 12 && rows.every((r) => r.status === 'dead'),
    );
    const [attempt] = await sql<
      { error_kind: string | null; error_message: string | null; status_code: number | null }[]
    >`
      SELECT error_kind, error_message, status_code FROM webhook_attempts WHERE delivery_id = ${ids[0] ?? ''}`;
    expect(attempt).toMatchObject({ error_kind: 'invalid_header', status_code: null });
    expect(attempt?.error_message).toMatch(/^custom header Keep-Alive is about the connection/);
    expect(good.receiver.requests).toHaveLength(0);

    const delivery = await deliveryTo(good.subscriptionId);
    await enqueueDeliveries({ queue, flow, retries: 3 }, [
      {
        deliveryId: delivery.deliveryId,
        generation: 0,
        subscriptionId: good.subscriptionId,
        maxInFlight: 20,
      },
    ]);
    await until(
      () => statusesOf([delivery.deliveryId]),
      (rows) => rows[0]?.status === 'succeeded',
    );
    expect(good.receiver.requests.map((r) => r.headers['webhook-id'])).toEqual([delivery.eventId]);
  });
});
