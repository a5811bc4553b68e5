import { migrate } from 'drizzle-orm/postgres-js/migrator';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateBefore } from '../../scripts/lib/migrations.js';
import { createScratch, dropScratch, type Scratch, scratchName } from '../../scripts/lib/scratch-database.js';
import { createDatabase, type Sql } from '../../src/db/client.js';
import { migrationsFolder } from '../../src/db/migrate.js';
import { deliveryIdOf } from '../../src/webhooks/deliveries/delivery-id.js';
import { maintainPartitions } from '../../src/webhooks/deliveries/retention.js';
import { newSigningSecret } from '../../src/webhooks/delivery/signing.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';

// Partitioned delivery storage (drizzle/0008, docs/adr/0012) on a database of this file's own, made
// and dropped here: the migration of a database that holds rows from before it, and retention
// dropping whole partitions at a time given ahead, which on the shared database would drop other
// files' rows.

const DAY = 86_400_000;
const name = scratchName('partitions', uniqueSuffix());
const admin = createDatabase({
  url: testConfig.DATABASE_URL,
  poolSize: 1,
  applicationName: 'test-partitions',
});
let scratch: Scratch;
let sql: Sql;

beforeAll(async () => {
  scratch = await createScratch(admin.sql, testConfig.DATABASE_URL, name, {
    poolSize: 2,
    applicationName: 'test-partitions',
  });
  sql = scratch.sql;
});

afterAll(async () => {
  await scratch?.end({ timeout: 5 });
  await dropScratch(admin.sql, name);
  await admin.end({ timeout: 5 });
});

describe('partitioned delivery storage', () => {
  it('migrates a database holding rows: they stay where they were, found by id and by the old unique key', async () => {
    await migrateBefore(scratch.db, '0008_partitioned_delivery_storage');
    const subscription = uuidv7();
    await sql`INSERT INTO webhook_subscriptions (id, url, event_types, secret)
      VALUES (${subscription}, 'http://127.0.0.1:9/partitions', ${['user.profile.updated']}, ${newSigningSecret()})`;
    // Rows as the fan-out wrote them before: a UUIDv7 of when it ran for each delivery; and one whose
    // id is no UUIDv7 (a UUIDv4, as tools or old tests made them).
    const rows = [uuidv7({ msecs: Date.now() - 3 * DAY }), uuidv7(), uuidv4()].map((delivery) => ({
      delivery,
      event: uuidv7({ msecs: Date.now() - 3 * DAY }),
    }));
    for (const { delivery, event } of rows) {
      await sql`INSERT INTO webhook_events (id, type, occurred_at, payload)
        VALUES (${event}, 'user.profile.updated', now(), ${sql.json({ id: event })})`;
      await sql`INSERT INTO webhook_deliveries (id, event_id, subscription_id, event_type, event_occurred_at, status)
        VALUES (${delivery}, ${event}, ${subscription}, 'user.profile.updated', now(), 'succeeded')`;
      await sql`INSERT INTO webhook_attempts (id, delivery_id, number, started_at, duration_ms, status_code)
        VALUES (${uuidv7()}, ${delivery}, 1, now(), 5, 200)`;
    }

    await migrate(scratch.db, { migrationsFolder });
    // Applied twice (a second process, a re-run): nothing changes.
    await migrate(scratch.db, { migrationsFolder });

    const [kind] = await sql<{ relkind: string }[]>`
      SELECT relkind FROM pg_class WHERE oid = 'webhook_deliveries'::regclass`;
    expect(kind?.relkind).toBe('p');
    for (const { delivery, event } of rows) {
      const found =
        await sql`SELECT 1 FROM webhook_deliveries WHERE id = ${delivery} AND event_id = ${event}`;
      expect(found.count).toBe(1);
      const attempts = await sql`SELECT 1 FROM webhook_attempts WHERE delivery_id = ${delivery}`;
      expect(attempts.count).toBe(1);
    }
    const where = await sql<{ partition: string; n: number }[]>`
      SELECT tableoid::regclass::text AS partition, count(*)::int AS n FROM webhook_deliveries GROUP BY 1 ORDER BY 1`;
    expect(where).toEqual([
      { partition: 'webhook_deliveries_default', n: 1 },
      { partition: 'webhook_deliveries_legacy', n: 2 },
    ]);
    // An event fanned out before the migration and read again after it: its delivery is not made twice.
    const [first] = rows;
    const again = await sql`
      INSERT INTO webhook_deliveries (id, event_id, subscription_id, event_type, event_occurred_at)
      VALUES (${deliveryIdOf(first?.event ?? '', subscription)}, ${first?.event ?? ''}, ${subscription}, 'user.profile.updated', now())
      ON CONFLICT DO NOTHING`;
    expect(again.count).toBe(0);
    // The coming week's partitions exist.
    const ahead = await sql<{ hi: Date }[]>`
      SELECT webhook_uuid_time(hi) AS hi FROM webhook_partitions('webhook_deliveries') ORDER BY hi DESC LIMIT 1`;
    expect(ahead[0]?.hi.getTime()).toBeGreaterThanOrEqual(Date.now() + 6 * DAY);
  });

  it("makes a delivery's id the same way in TypeScript and in SQL", async () => {
    const pairs = Array.from({ length: 50 }, () => ({ event: uuidv7(), subscription: uuidv7() }));
    const rows = await sql<{ id: string }[]>`
      SELECT webhook_delivery_id(e, s)::text AS id
      FROM unnest(${pairs.map((p) => p.event)}::uuid[], ${pairs.map((p) => p.subscription)}::uuid[]) AS t(e, s)`;
    expect(rows.map((row) => row.id)).toEqual(pairs.map((p) => deliveryIdOf(p.event, p.subscription)));
  });

  it('drops whole partitions once retention has passed them, keeping a range with a delivery still waiting', async () => {
    const subscription = uuidv7();
    await sql`INSERT INTO webhook_subscriptions (id, url, event_types, secret)
      VALUES (${subscription}, 'http://127.0.0.1:9/partitions', ${['user.profile.updated']}, ${newSigningSecret()})`;
    const make = async (at: number, status: string) => {
      const event = uuidv7({ msecs: at });
      const delivery = deliveryIdOf(event, subscription);
      await sql`INSERT INTO webhook_events (id, type, occurred_at, payload)
        VALUES (${event}, 'user.profile.updated', now(), ${sql.json({ id: event })})`;
      await sql`INSERT INTO webhook_deliveries (id, event_id, subscription_id, event_type, event_occurred_at, status)
        VALUES (${delivery}, ${event}, ${subscription}, 'user.profile.updated', now(), ${status})`;
      await sql`INSERT INTO webhook_attempts (id, delivery_id, number, started_at, duration_ms, status_code)
        VALUES (${uuidv7()}, ${delivery}, 1, now(), 5, 200)`;
      const [row] = await sql<{ partition: string }[]>`
        SELECT tableoid::regclass::text AS partition FROM webhook_deliveries WHERE id = ${delivery}`;
      return { event, delivery, partition: row?.partition ?? '' };
    };
    const twoDays = Date.now() + 2 * DAY;
    const done = await make(twoDays, 'succeeded');
    const threeDays = Date.now() + 3 * DAY;
    const waiting = await make(threeDays, 'retrying');
    const doneBeside = await make(threeDays + 1, 'dead');
    expect(done.partition).toMatch(/^webhook_deliveries_p\d{8}$/);
    expect(waiting.partition).toMatch(/^webhook_deliveries_p\d{8}$/);
    expect(waiting.partition).not.toBe(done.partition);

    // 30 days' retention, seen from 40 days ahead: both ranges have passed it.
    const now = Date.now() + 40 * DAY;
    const result = await maintainPartitions(sql, 30, now);
    const tables = async () =>
      (
        await sql<
          { name: string }[]
        >`SELECT relname AS name FROM pg_class WHERE relkind = 'r' AND relname LIKE 'webhook_%'`
      ).map((row) => row.name);
    const after = await tables();
    // The range with nothing waiting is gone, its three partitions at once.
    const day = done.partition.replace('webhook_deliveries_', '');
    for (const table of ['webhook_events', 'webhook_deliveries', 'webhook_attempts']) {
      expect(after).not.toContain(`${table}_${day}`);
    }
    // The range with a delivery still retrying stays; its finished delivery and attempt went.
    expect(after).toContain(waiting.partition);
    const left = await sql<
      { id: string }[]
    >`SELECT id FROM webhook_deliveries WHERE subscription_id = ${subscription}`;
    expect(left.map((row) => row.id)).toEqual([waiting.delivery]);
    const attempts = await sql`SELECT 1 FROM webhook_attempts WHERE delivery_id = ${doneBeside.delivery}`;
    expect(attempts.count).toBe(0);
    const events = await sql<{ id: string }[]>`
      SELECT id FROM webhook_events WHERE id = ANY(${[done.event, waiting.event, doneBeside.event]}::uuid[])`;
    expect(events.map((row) => row.id)).toEqual([waiting.event]);
    expect(result?.pruned.partitions).toBeGreaterThanOrEqual(1);
    // And the partitions of the week after that "now" were created.
    expect(result?.created.length).toBeGreaterThanOrEqual(39);
  });
});
