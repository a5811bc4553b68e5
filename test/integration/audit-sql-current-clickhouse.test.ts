import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditMigrations, migrateClickHouse } from '../../src/audit/migrations.js';
import { AuditWorker } from '../../src/audit/worker.js';
import { type ClickHouseClient, createClickHouse } from '../../src/clickhouse/client.js';
import { createKafka } from '../../src/kafka/client.js';
import { auditFixture, auditResults, expectedAuditResults, storeFixture } from '../helpers/audit-fixture.js';
import { type Chdb, startChdb } from '../helpers/chdb.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { testLogger } from '../helpers/logger.js';

// The audit SQL on Debian's ClickHouse 18.16 (the stack's) and on a current ClickHouse (chDB, 26.x),
// both in UTC: the same migrations, rows and calls must give the same, expected, results.
const stack = createClickHouse({ url: testConfig.CLICKHOUSE_URL });
let chdb: Chdb | undefined;
const suffix = uniqueSuffix();
const db = `hookline_test_sql_${suffix}`;
const upgraded = `hookline_test_sql_v1_${suffix}`;
const copying = `hookline_test_sql_copying_${suffix}`;
const swapped = `hookline_test_sql_swapped_${suffix}`;
const scratch1 = `hookline_test_sql_scratch1_${suffix}`;
const scratch2 = `hookline_test_sql_scratch2_${suffix}`;
const fixture = auditFixture();

beforeAll(async () => {
  chdb = await startChdb({ timeZone: 'UTC' });
});
afterAll(async () => {
  for (const name of [db, upgraded, copying, swapped, scratch1, scratch2])
    await stack.command({ query: `DROP DATABASE IF EXISTS ${name}` }).catch(() => {});
  await stack.close();
  await chdb?.close();
});

function engines(): [string, ClickHouseClient][] {
  if (!chdb) throw new Error('chDB did not start');
  return [
    ['ClickHouse 18.16', stack],
    ['chDB (current ClickHouse)', chdb.client],
  ];
}

async function select<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  return (await client.query({ query, format: 'JSONEachRow' })).json<T>();
}

const columnsOf = (client: ClickHouseClient, database: string) =>
  select<{ name: string; type: string }>(
    client,
    `SELECT name, type FROM system.columns WHERE database = '${database}' AND table = 'audit_events' ORDER BY name`,
  );
const tablesOf = async (client: ClickHouseClient, database: string) =>
  (
    await select<{ name: string }>(
      client,
      `SELECT name FROM system.tables WHERE database = '${database}' ORDER BY name`,
    )
  ).map((row) => row.name);

describe('the audit SQL on ClickHouse 18.16 and on current ClickHouse (chDB)', () => {
  it('the migrations make the same schema on both, occurred_at in UTC', async () => {
    const schemas = [];
    for (const [, client] of engines()) {
      expect(await migrateClickHouse(client, db, testLogger)).toEqual(auditMigrations.map((m) => m.version));
      expect(await migrateClickHouse(client, db, testLogger)).toEqual([]);
      expect(await tablesOf(client, db)).toEqual(['audit_events', 'schema_migrations']);
      schemas.push(await columnsOf(client, db));
    }
    expect(schemas[0]).toContainEqual({ name: 'occurred_at', type: "DateTime('UTC')" });
    expect(schemas[1]).toEqual(schemas[0]);
  });

  it('every audit query and the detector give the expected results on both, redelivered rows once', async () => {
    const results: Record<string, unknown>[] = [];
    for (const [, client] of engines()) {
      await storeFixture(client, db, fixture);
      results.push(await auditResults(client, db, fixture));
    }
    const expected = expectedAuditResults(fixture);
    expect(results[0]).toEqual(expected);
    expect(results[1]).toEqual(expected);
    expect(results[1]).toEqual(results[0]);
  });

  it('retention deletes the same rows on both', async () => {
    const counts: number[] = [];
    for (const [name, client] of engines()) {
      const worker = new AuditWorker({
        kafka: createKafka({
          brokers: testConfig.KAFKA_BROKERS,
          clientId: 'test-audit-sql',
          logger: testLogger,
        }),
        clickhouse: client,
        database: db,
        groupId: `test-audit-sql-${suffix}`,
        topics: [],
        batchSize: 1,
        flushMs: 1_000,
        truncateIp: false,
        retentionDays: 365,
        logger: testLogger,
        registry: new Registry(),
      });
      await worker.prune(fixture.now);
      // The deletion is a mutation, applied in the background: wait for it.
      const count = async () =>
        Number(
          (
            await select<{ n: string | number }>(client, `SELECT count() AS n FROM ${db}.audit_events FINAL`)
          )[0]?.n,
        );
      await expect
        .poll(count, {
          timeout: 15_000,
          interval: 50,
          message: `${name}: the retention mutation did not finish`,
        })
        .toBe(fixture.rows.length - 1);
      counts.push(await count());
    }
    expect(counts).toEqual([fixture.rows.length - 1, fixture.rows.length - 1]);
  });

  it('an audit log made by version 1 is migrated to version 2 on both, every event kept once', async () => {
    const results: Record<string, unknown>[] = [];
    for (const [, client] of engines()) {
      expect(await migrateClickHouse(client, upgraded, testLogger, auditMigrations.slice(0, 1))).toEqual([1]);
      await storeFixture(client, upgraded, fixture);
      expect(await migrateClickHouse(client, upgraded, testLogger)).toEqual([2]);
      expect(await tablesOf(client, upgraded)).toEqual(['audit_events', 'schema_migrations']);
      expect(await columnsOf(client, upgraded)).toEqual(await columnsOf(client, db));
      results.push(await auditResults(client, upgraded, fixture));
    }
    expect(results[0]).toEqual(expectedAuditResults(fixture));
    expect(results[1]).toEqual(results[0]);
  });

  it('the version 2 migration finishes after an interruption, before or after its swap, on both', async () => {
    const v1 = auditMigrations.slice(0, 1);
    for (const [, client] of engines()) {
      // Interrupted while copying: a half-filled audit_events_utc is left over.
      await migrateClickHouse(client, copying, testLogger, v1);
      await storeFixture(client, copying, fixture);
      await migrateClickHouse(client, scratch1, testLogger, v1);
      await client.insert({
        table: `${scratch1}.audit_events`,
        format: 'JSONEachRow',
        values: [{ ...fixture.rows[0], event_id: '00000000-0000-0000-0000-000000000000' }],
      });
      await client.command({ query: `RENAME TABLE ${scratch1}.audit_events TO ${copying}.audit_events_utc` });
      expect(await migrateClickHouse(client, copying, testLogger)).toEqual([2]);
      expect(await tablesOf(client, copying)).toEqual(['audit_events', 'schema_migrations']);
      expect(await auditResults(client, copying, fixture)).toEqual(expectedAuditResults(fixture));

      // Interrupted after the swap: the new table has the name (and rows written since), the old one
      // waits as audit_events_v1 with everything before.
      await migrateClickHouse(client, swapped, testLogger, v1);
      await client.insert({ table: `${swapped}.audit_events`, format: 'JSONEachRow', values: fixture.rows });
      await client.command({ query: `RENAME TABLE ${swapped}.audit_events TO ${swapped}.audit_events_v1` });
      await migrateClickHouse(client, scratch2, testLogger);
      await client.command({ query: `RENAME TABLE ${scratch2}.audit_events TO ${swapped}.audit_events` });
      await client.insert({
        table: `${swapped}.audit_events`,
        format: 'JSONEachRow',
        values: fixture.redelivered,
      });
      expect(await migrateClickHouse(client, swapped, testLogger)).toEqual([2]);
      expect(await tablesOf(client, swapped)).toEqual(['audit_events', 'schema_migrations']);
      expect(await auditResults(client, swapped, fixture)).toEqual(expectedAuditResults(fixture));
    }
  });
});
