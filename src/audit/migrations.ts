import type { ClickHouseClient } from '../clickhouse/client.js';
import { chLiteral } from '../clickhouse/sql.js';
import type { Logger } from '../logger.js';

/**
 * ClickHouse schema migrations, versioned and applied in order at start (like PostgreSQL's). Every
 * statement is valid on Debian's ClickHouse 18.16 and on current releases: no DateTime64, no TTL, no
 * JSON type, no `IF NOT EXISTS` on columns. A migration is recorded only once it has finished, so each
 * must be safe to run again after being interrupted at any point. See docs/adr/0007-audit-in-clickhouse.md.
 */
export interface ClickHouseMigration {
  version: number;
  name: string;
  apply: (client: ClickHouseClient, db: string, logger: Logger) => Promise<void>;
}

const statements =
  (...sql: ((db: string) => string)[]): ClickHouseMigration['apply'] =>
  async (client, db) => {
    for (const statement of sql) await client.command({ query: statement(db) });
  };

async function rows<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  return (await client.query({ query, format: 'JSONEachRow' })).json<T>();
}

const columns =
  'event_id, type, occurred_at, occurred_ms, user_id, actor_type, actor_id, email, ip, user_agent, request_id, data, inserted_ms';
/** The columns with `occurred_at` made again from the exact `occurred_ms`, in UTC. */
const columnsInUtc = columns.replace('occurred_at', "toDateTime(intDiv(occurred_ms, 1000), 'UTC')");

/**
 * Version 2: `occurred_at` becomes `DateTime('UTC')`. As a plain `DateTime` it was read from UTC text
 * in the server's time zone, so on a server not in UTC every stored instant was off by its offset.
 * 18.16 refuses to ALTER a partition or sorting key column, so the table is copied (with `occurred_at`
 * recomputed from `occurred_ms`, which repairs those rows) into a new table that then takes its name.
 * Rows inserted into the old table during the copy (by a worker of the previous release) are copied
 * again after the swap; the duplicates collapse like redelivered events. Re-run after an interruption:
 * before the swap it starts over; after it, it finishes the catch-up copy and drops the old table. Two
 * workers starting at once may get in each other's way: one then fails to start and its restart
 * finishes; the old table is dropped only after its rows were copied, so no row is lost either way.
 */
async function occurredAtInUtc(client: ClickHouseClient, db: string, logger: Logger): Promise<void> {
  const table = `${db}.audit_events`;
  const copy = `${db}.audit_events_utc`;
  const old = `${db}.audit_events_v1`;
  const [column] = await rows<{ type: string }>(
    client,
    `SELECT type FROM system.columns
     WHERE database = ${chLiteral(db)} AND table = 'audit_events' AND name = 'occurred_at'`,
  );
  let catchUpFrom = 0;
  if (column?.type !== "DateTime('UTC')") {
    await client.command({ query: `DROP TABLE IF EXISTS ${copy}` });
    await client.command({
      query: auditEventsTable(copy, "DateTime('UTC')"),
    });
    // Ten minutes of margin for the clocks of other workers' hosts.
    catchUpFrom = Date.now() - 600_000;
    logger.info({ table }, 'ClickHouse migration: copying the audit log into a table in UTC');
    await client.command({ query: `INSERT INTO ${copy} (${columns}) SELECT ${columnsInUtc} FROM ${table}` });
    await client.command({ query: `RENAME TABLE ${table} TO ${old}, ${copy} TO ${table}` });
  } else {
    // A copy left by a run that lost a race with another worker's (its swap then failed).
    await client.command({ query: `DROP TABLE IF EXISTS ${copy}` });
  }
  const [leftover] = await rows<{ name: string }>(
    client,
    `SELECT name FROM system.tables WHERE database = ${chLiteral(db)} AND name = 'audit_events_v1'`,
  );
  if (leftover) {
    await client.command({
      query: `INSERT INTO ${table} (${columns}) SELECT ${columnsInUtc} FROM ${old} WHERE inserted_ms >= ${catchUpFrom}`,
    });
    await client.command({ query: `DROP TABLE ${old}` });
  }
}

/**
 * The audit table's statement: version 1 made `occurred_at` a DateTime in the server's zone, version 2
 * remakes the table with DateTime('UTC'); everything else is the same.
 */
function auditEventsTable(name: string, occurredAt: string): string {
  return `CREATE TABLE ${name} (
        event_id String,
        type String,
        occurred_at ${occurredAt},
        occurred_ms UInt64,
        user_id String,
        actor_type String,
        actor_id String,
        email String,
        ip String,
        user_agent String,
        request_id String,
        data String,
        inserted_ms UInt64
      ) ENGINE = ReplacingMergeTree(inserted_ms)
      PARTITION BY toYYYYMM(occurred_at)
      ORDER BY (user_id, occurred_at, event_id)`;
}

export const auditMigrations: ClickHouseMigration[] = [
  {
    version: 1,
    name: 'audit_events',
    apply: statements((db) => auditEventsTable(`IF NOT EXISTS ${db}.audit_events`, 'DateTime')),
  },
  { version: 2, name: 'audit_events_occurred_at_utc', apply: occurredAtInUtc },
];

/** Applies the pending migrations to `db` (created if missing); returns the versions applied. */
export async function migrateClickHouse(
  client: ClickHouseClient,
  db: string,
  logger: Logger,
  migrations: readonly ClickHouseMigration[] = auditMigrations,
): Promise<number[]> {
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (version UInt32, name String, applied_at DateTime)
      ENGINE = MergeTree ORDER BY version`,
  });
  const applied = new Set(
    (await rows<{ version: number }>(client, `SELECT version FROM ${db}.schema_migrations`)).map((row) =>
      Number(row.version),
    ),
  );
  const done: number[] = [];
  for (const migration of migrations) {
    if (applied.has(migration.version)) continue;
    await migration.apply(client, db, logger);
    await client.insert({
      table: `${db}.schema_migrations`,
      format: 'JSONEachRow',
      // A number: seconds since the epoch, the same instant whatever the server's time zone.
      values: [
        { version: migration.version, name: migration.name, applied_at: Math.floor(Date.now() / 1_000) },
      ],
    });
    done.push(migration.version);
    logger.info({ version: migration.version, name: migration.name }, 'ClickHouse migration applied');
  }
  return done;
}
