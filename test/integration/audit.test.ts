import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse } from '../../src/clickhouse/client.js';
import { apiClient, signedUpUser, type Tokens, uniqueEmail } from '../helpers/api.js';
import { testConfig } from '../helpers/env.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';

const ADMIN_EMAIL = uniqueEmail('audit-admin');
const ADMIN_PASSWORD = 'admin-pass-for-tests-42';
const clickhouse = createClickHouse({ url: testConfig.CLICKHOUSE_URL });
let platform: TestPlatform;

beforeAll(async () => {
  platform = await startPlatform({ ADMIN_EMAIL, ADMIN_PASSWORD, AUDIT_FLUSH_MS: '100' }, { audit: true });
});
afterAll(async () => {
  await platform?.stop();
  await clickhouse.close();
});

interface Row {
  event_id: string;
  type: string;
  user_id: string;
  email: string;
  ip: string;
  data: string;
}

async function rowsOf(userIds: string[], expected: number, timeoutMs = 20_000): Promise<Row[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await clickhouse.query({
      query: `SELECT event_id, type, user_id, email, ip, data FROM hookline.audit_events FINAL
        WHERE user_id IN (${userIds.map((id) => `'${id}'`).join(',')}) ORDER BY occurred_ms, event_id`,
      format: 'JSONEachRow',
    });
    const rows = await result.json<Row>();
    if (rows.length >= expected || Date.now() > deadline) return rows;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('the audit worker', () => {
  it('stores every event of a scripted run in ClickHouse, once each, with no secret in any row', async () => {
    const user = await signedUpUser(platform.baseUrl, 'audited');
    const client = user.client;
    const token = user.tokens.access_token;
    await client.call('POST', '/v1/auth/login', {
      body: { email: user.email, password: 'wrong-password-1' },
    });
    await client.call('PATCH', '/v1/me', { token, body: { name: 'Audited Person' } });
    const newPassword = 'audited-new-passphrase-9';
    await client.call('POST', '/v1/me/password', {
      token,
      body: { current_password: user.password, new_password: newPassword },
    });
    const admin = apiClient(platform.baseUrl);
    const adminLogin = await admin.call<Tokens>('POST', '/v1/auth/login', {
      body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD },
    });
    await admin.call('PUT', `/v1/users/${user.id}/role`, {
      token: adminLogin.body.access_token,
      body: { role: 'admin' },
    });

    const expected = [
      'user.registered',
      'user.login',
      'user.login.failed',
      'user.profile.updated',
      'user.password.changed',
      'user.role.changed',
    ];
    const rows = await rowsOf([user.id], expected.length);
    expect(rows.map((row) => row.type)).toEqual(expected);
    expect(new Set(rows.map((row) => row.event_id)).size).toBe(rows.length);
    expect(rows[0]).toMatchObject({ email: user.email, ip: client.ip });
    const everything = JSON.stringify(rows);
    for (const secret of [
      user.password,
      newPassword,
      'wrong-password-1',
      token,
      user.tokens.refresh_token,
      ADMIN_PASSWORD,
    ]) {
      expect(everything).not.toContain(secret);
    }
  });

  it('collapses a redelivered event: queries see it once', async () => {
    const user = await signedUpUser(platform.baseUrl, 'redelivered');
    const [row] = await rowsOf([user.id], 2);
    expect(row).toBeDefined();
    // Insert the very same event again, as a redelivery after a crash would.
    const full = await clickhouse.query({
      query: `SELECT * FROM hookline.audit_events FINAL WHERE event_id = '${row?.event_id}'`,
      format: 'JSONEachRow',
    });
    const [original] = await full.json<Record<string, unknown>>();
    await clickhouse.insert({
      table: 'hookline.audit_events',
      format: 'JSONEachRow',
      values: [{ ...original, inserted_ms: Date.now() }],
    });
    const rows = await rowsOf([user.id], 2);
    expect(rows.filter((r) => r.event_id === row?.event_id)).toHaveLength(1);
  });
});
