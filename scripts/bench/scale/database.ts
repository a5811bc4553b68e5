// The scale bench's database: one of its own on the shared server (hookline_scale_<run>), never the
// shared one. It is migrated as a production database would be: up to the partitioning migration
// (drizzle/0008), then the pre-step (docs/adr/0012: validated CHECK constraints naming the cutover below
// which rows stay in the legacy partition, here 14 days ago), then fully, so that the past 14 days get
// daily partitions (webhook_partitions_ensure starts from the cutover). Dropped at the end.
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import type { Sql } from '../../../src/db/client.js';
import { migrationsFolder } from '../../../src/db/migrate.js';
import { uuidv7Floor } from '../../../src/webhooks/deliveries/delivery-id.js';
import { migrateBefore } from '../../lib/migrations.js';
import type { Scratch } from '../../lib/scratch-database.js';

const PARTITIONING = '0008_partitioned_delivery_storage';

/**
 * Migrates the scratch database up to (not including) the partitioning migration, adds the pre-step's
 * constraints with the cutover at `cutoverMs` (NOT VALID, then VALIDATE, as the pre-step does on a
 * live database), then applies every migration. Returns what the partitioning made.
 */
export async function migrateWithCutover(scratch: Scratch, cutoverMs: number) {
  await migrateBefore(scratch.db, PARTITIONING);
  const cutover = uuidv7Floor(cutoverMs);
  const constraints = [
    ['webhook_events', 'webhook_events_before_cutover', 'id'],
    ['webhook_deliveries', 'webhook_deliveries_before_cutover', 'id'],
    ['webhook_attempts', 'webhook_attempts_before_cutover', 'delivery_id'],
  ] as const;
  for (const [table, name, column] of constraints) {
    await scratch.sql.unsafe(
      `ALTER TABLE ${table} ADD CONSTRAINT ${name} CHECK (${column} < '${cutover}'::uuid) NOT VALID`,
    );
    await scratch.sql.unsafe(`ALTER TABLE ${table} VALIDATE CONSTRAINT ${name}`);
  }
  await migrate(scratch.db, { migrationsFolder });
  return partitionsOf(scratch.sql, cutover);
}

/** The partitions of webhook_deliveries: the legacy one's bound (must be the cutover) and the daily ones. */
async function partitionsOf(sql: Sql, cutover: string) {
  const rows = await sql<{ partition: string; lo: string | null; hi: string; hi_at: Date }[]>`
    SELECT partition::text, lo::text, hi::text, webhook_uuid_time(hi) AS hi_at
    FROM webhook_partitions('webhook_deliveries') ORDER BY hi`;
  const legacy = rows.find((row) => row.lo === null);
  if (legacy?.hi !== cutover) {
    throw new Error(`the legacy partition ends at ${legacy?.hi}, not at the pre-step's cutover ${cutover}`);
  }
  const daily = rows.filter((row) => row.lo !== null);
  if (daily[0]?.lo !== cutover) throw new Error(`the first daily partition starts at ${daily[0]?.lo}`);
  return { cutover, daily: daily.length, until: daily.at(-1)?.hi_at ?? null };
}
