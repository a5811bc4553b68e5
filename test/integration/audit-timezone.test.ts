import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditMigrations, migrateClickHouse } from '../../src/audit/migrations.js';
import type { ClickHouseClient } from '../../src/clickhouse/client.js';
import { auditFixture, auditResults, expectedAuditResults, storeFixture } from '../helpers/audit-fixture.js';
import { startChdb } from '../helpers/chdb.js';
import { type ClickHouseServer, startClickHouseServer } from '../helpers/clickhouse-server.js';
import { uniqueSuffix } from '../helpers/env.js';
import { testLogger } from '../helpers/logger.js';

// The audit log's answers must not depend on the ClickHouse server's time zone. Two servers not in
// UTC: Debian's ClickHouse 18.16 (a second server of the stack's binary) in Europe/Berlin, east of
// UTC, and a current ClickHouse (chDB) in America/New_York, west of it. The fixture has failed logins
// in the last hour, events on both sides of UTC midnight and a stuffing burst for the detector.
const engines: {
  name: string;
  start: () => Promise<{ client: ClickHouseClient; stop: () => Promise<void> }>;
}[] = [
  {
    name: 'ClickHouse 18.16 in Europe/Berlin',
    start: async () => {
      const server: ClickHouseServer = await startClickHouseServer({ timeZone: 'Europe/Berlin' });
      return { client: server.client, stop: server.stop };
    },
  },
  {
    name: 'current ClickHouse (chDB) in America/New_York',
    start: async () => {
      const chdb = await startChdb({ timeZone: 'America/New_York' });
      return { client: chdb.client, stop: chdb.close };
    },
  },
];

describe.each(engines)('the audit log on $name', ({ start }) => {
  let engine: { client: ClickHouseClient; stop: () => Promise<void> } | undefined;
  const fixture = auditFixture();
  const suffix = uniqueSuffix();

  beforeAll(async () => {
    engine = await start();
  });
  afterAll(async () => {
    // The whole server (data directory included) is this file's own: stopping it removes everything.
    await engine?.stop();
  });
  const client = () => {
    if (!engine) throw new Error('the server did not start');
    return engine.client;
  };

  it('answers every audit query and the detector as in UTC', async () => {
    const db = `hookline_tz_${suffix}`;
    await migrateClickHouse(client(), db, testLogger);
    await storeFixture(client(), db, fixture);
    expect(await auditResults(client(), db, fixture)).toEqual(expectedAuditResults(fixture));
  });

  it('repairs, by the version 2 migration, the times of rows stored before it', async () => {
    const db = `hookline_tz_v1_${suffix}`;
    // An install of version 1, fed by its worker: UTC text read in the server's time zone.
    await migrateClickHouse(client(), db, testLogger, auditMigrations.slice(0, 1));
    await storeFixture(client(), db, fixture);
    expect(await migrateClickHouse(client(), db, testLogger)).toEqual([2]);
    const [wrong] = await (
      await client().query({
        query: `SELECT countIf(toUnixTimestamp(occurred_at) != intDiv(occurred_ms, 1000)) AS n FROM ${db}.audit_events`,
        format: 'JSONEachRow',
      })
    ).json<{ n: string | number }>();
    expect(Number(wrong?.n)).toBe(0);
    expect(await auditResults(client(), db, fixture)).toEqual(expectedAuditResults(fixture));
  });
});
