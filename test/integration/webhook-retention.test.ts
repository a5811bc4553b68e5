import { v7 as uuidv7 } from 'uuid';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/client.js';
import { deliveryIdOf } from '../../src/webhooks/deliveries/delivery-id.js';
import { pruneWebhookData } from '../../src/webhooks/deliveries/retention.js';
import { newSigningSecret } from '../../src/webhooks/delivery/signing.js';
import { testConfig } from '../helpers/env.js';

const { sql, end } = createDatabase({
  url: testConfig.DATABASE_URL,
  poolSize: 2,
  applicationName: 'test-retention',
});
afterAll(() => end({ timeout: 5 }));

describe('webhook retention', () => {
  it('prunes finished deliveries, their attempts and unreferenced events older than the retention; keeps the rest', async () => {
    const subscription = uuidv7();
    await sql`INSERT INTO webhook_subscriptions (id, url, event_types, secret, enabled)
      VALUES (${subscription}, 'http://127.0.0.1:9/retention', ${['webhook.test']}, ${newSigningSecret()}, false)`;
    // The age that counts is the event's (the time in its UUIDv7 id, which places it and its deliveries
    // in their partition), not when a row was written.
    const make = async (ageDays: number, status: string) => {
      const event = uuidv7({ msecs: Date.now() - ageDays * 86_400_000 });
      const delivery = deliveryIdOf(event, subscription);
      await sql`INSERT INTO webhook_events (id, type, occurred_at, payload, created_at)
        VALUES (${event}, 'webhook.test', now(), ${sql.json({ id: event })}, now() - make_interval(days => ${ageDays}))`;
      await sql`INSERT INTO webhook_deliveries (id, event_id, subscription_id, event_type, status, event_occurred_at, created_at)
        VALUES (${delivery}, ${event}, ${subscription}, 'webhook.test', ${status}, now(), now() - make_interval(days => ${ageDays}))`;
      await sql`INSERT INTO webhook_attempts (id, delivery_id, number, started_at, duration_ms, status_code)
        VALUES (${uuidv7()}, ${delivery}, 1, now(), 5, 200)`;
      return { event, delivery };
    };
    const oldDone = await make(40, 'succeeded');
    const oldDead = await make(40, 'dead');
    const oldRetrying = await make(40, 'retrying');
    const recent = await make(1, 'succeeded');

    await pruneWebhookData(sql, 30);
    const deliveries = await sql<
      { id: string }[]
    >`SELECT id FROM webhook_deliveries WHERE subscription_id = ${subscription}`;
    expect(deliveries.map((d) => d.id).sort()).toEqual([oldRetrying.delivery, recent.delivery].sort());
    const attempts =
      await sql`SELECT 1 FROM webhook_attempts WHERE delivery_id = ANY(${[oldDone.delivery, oldDead.delivery]}::uuid[])`;
    expect(attempts.count).toBe(0);
    const events = await sql<{ id: string }[]>`
      SELECT id FROM webhook_events WHERE id = ANY(${[oldDone.event, oldDead.event, oldRetrying.event, recent.event]}::uuid[])`;
    expect(events.map((e) => e.id).sort()).toEqual([oldRetrying.event, recent.event].sort());
    await sql`DELETE FROM webhook_subscriptions WHERE id = ${subscription}`;
  });
});
