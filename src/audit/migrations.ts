import type { ClickHouseClient } from '../clickhouse/client.js';
import type { Logger } from '../logger.js';

/**
 * ClickHouse schema migrations, versioned and applied in order at start (like PostgreSQL's). Every
 * statement is valid on Debian's ClickHouse 18.16 and on current releases: no DateTime64, no TTL, no
 * JSON type, no `IF NOT EXISTS` on columns. See docs/adr/0007-audit-in-clickhouse.md.
 */
export const auditMigrations: { version: number; name: string; statements: (db: string) => string[] }[] = [
  {
    version: 1,
    name: 'audit_events',
    statements: (db) => [
      `CREATE TABLE IF NOT EXISTS ${db}.audit_events (
        event_id String,
        type String,
        occurred_at DateTime,
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
      ORDER BY (user_id, occurred_at, event_id)`,
    ],
  },
];

/** Applies the pending migrations to `db` (created if missing); returns the versions applied. */
export async function migrateClickHouse(
  client: ClickHouseClient,
  db: string,
  logger: Logger,
): Promise<number[]> {
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (version UInt32, name String, applied_at DateTime)
      ENGINE = MergeTree ORDER BY version`,
  });
  const result = await client.query({
    query: `SELECT version FROM ${db}.schema_migrations`,
    format: 'JSONEachRow',
  });
  const applied = new Set((await result.json<{ version: number }>()).map((row) => Number(row.version)));
  const done: number[] = [];
  for (const migration of auditMigrations) {
    if (applied.has(migration.version)) continue;
    for (const statement of migration.statements(db)) await client.command({ query: statement });
    await client.insert({
      table: `${db}.schema_migrations`,
      format: 'JSONEachRow',
      values: [
        { version: migration.version, name: migration.name, applied_at: Math.floor(Date.now() / 1_000) },
      ],
    });
    done.push(migration.version);
    logger.info({ version: migration.version, name: migration.name }, 'ClickHouse migration applied');
  }
  return done;
}
