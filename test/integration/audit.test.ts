import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createClickHouse } from '../../src/clickhouse/client.js';
import { apiClient, signedUpUser, TEST_ADMIN_PASSWORD, type Tokens, uniqueEmail } from '../helpers/api.js';
import { testConfig } from '../helpers/env.js';
import { type OwnPipeline, ownPipeline } from '../helpers/pipeline.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';

const ADMIN_EMAIL = uniqueEmail('audit-admin');
const ADMIN_PASSWORD = TEST_ADMIN_PASSWORD;
const clickhouse = createClickHouse({ url: testConfig.CLICKHOUSE_URL });
let platform: TestPlatform;
let pipeline: OwnPipeline | undefined;

beforeAll(async () => {
  pipeline = await ownPipeline('audit');
  platform = await startPlatform(
    { ADMIN_EMAIL, ADMIN_PASSWORD, AUDIT_FLUSH_MS: '100', ...pipeline.env },
    { audit: true },
  );
});
afterAll(async () => {
  await platform?.stop();
  await clickhouse.close();
  await pipeline?.remove();
});

interface Row {
  event_id: string;
  type: string;
  user_id: string;
  email: string;
  ip: string;
  data: string;
}

/**
 * The users' rows once there are `expected` of them; if the time runs out first, the rows there are
 * (the caller's assertions then say what is missing).
 */
async function rowsOf(userIds: string[], expected: number, timeoutMs = 20_000): Promise<Row[]> {
  const read = async () => {
    const result = await clickhouse.query({
      query: `SELECT event_id, type, user_id, email, ip, data FROM hookline.audit_events FINAL
        WHERE user_id IN (${userIds.map((id) => `'${id}'`).join(',')}) ORDER BY occurred_ms, event_id`,
      format: 'JSONEachRow',
    });
    return result.json<Row>();
  };
  return vi
    .waitFor(
      async () => {
        const rows = await read();
        if (rows.length < expected) throw new Error(`${rows.length} of ${expected} rows`);
        return rows;
      },
      { timeout: timeoutMs, interval: 200 },
    )
    .catch(() => read());
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

  it('exports its consumer lag per topic and partition', async () => {
    const text = await (await fetch(`${platform.baseUrl}/metrics`)).text();
    // (its group is this file's own: see ownPipeline)
    const group = pipeline?.env.AUDIT_GROUP_ID;
    expect(text).toMatch(
      new RegExp(
        `hookline_kafka_consumer_lag\\{[^}]*group="${group}"[^}]*topic="auth-events"[^}]*partition="0"`,
      ),
    );
    expect(text).toContain('hookline_audit_rows_inserted_total');
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

describe('the audit API', () => {
  async function admin() {
    const client = apiClient(platform.baseUrl);
    const login = await client.call<Tokens>('POST', '/v1/auth/login', {
      body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD },
    });
    return { client, token: login.body.access_token };
  }
  type Page = {
    items: { id: string; type: string; user_id: string; ip: string }[];
    next_cursor: string | null;
  };

  it('returns a user’s events newest first, once each, by cursor pages and filters', async () => {
    const user = await signedUpUser(platform.baseUrl, 'paged');
    await user.client.call('POST', '/v1/auth/login', {
      body: { email: user.email, password: 'wrong-password-1' },
    });
    await user.client.call('PATCH', '/v1/me', { token: user.tokens.access_token, body: { name: 'Paged' } });
    await rowsOf([user.id], 4);
    const { client, token } = await admin();

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: Page } = await client.call<Page>(
        'GET',
        `/v1/audit/events?user_id=${user.id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        {
          token,
        },
      );
      seen.push(...page.body.items.map((item) => item.type));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(['user.profile.updated', 'user.login.failed', 'user.login', 'user.registered']);

    const logins = await client.call<Page>('GET', `/v1/audit/events?user_id=${user.id}&type=user.login`, {
      token,
    });
    expect(logins.body.items.map((item) => item.type)).toEqual(['user.login']);
    const wildcard = await client.call<Page>('GET', `/v1/audit/events?user_id=${user.id}&type=user.login*`, {
      token,
    });
    expect(wildcard.status).toBe(400);
    const prefixed = await client.call<Page>('GET', `/v1/audit/events?user_id=${user.id}&type=user.*`, {
      token,
    });
    expect(prefixed.body.items).toHaveLength(4);
    const byIp = await client.call<Page>('GET', `/v1/audit/events?ip=${encodeURIComponent(user.client.ip)}`, {
      token,
    });
    expect(byIp.body.items.map((item) => item.user_id)).toEqual(Array(4).fill(user.id));
    const future = await client.call<Page>(
      'GET',
      `/v1/audit/events?user_id=${user.id}&from=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}`,
      { token },
    );
    expect(future.body.items).toEqual([]);
    const badCursor = await client.call('GET', '/v1/audit/events?cursor=bm9wZQ', { token });
    expect(badCursor.status).toBe(400);
    expect(badCursor.body).toMatchObject({ errors: [{ field: 'query.cursor' }] });
  });

  it('filters by type with the wildcards of webhook subscriptions: `*` is every type', async () => {
    const user = await signedUpUser(platform.baseUrl, 'wildcards');
    await user.client.call('POST', '/v1/auth/login', {
      body: { email: user.email, password: 'wrong-password-1' },
    });
    await rowsOf([user.id], 3);
    const { client, token } = await admin();
    const types = async (filter: string) => {
      const page = await client.call<Page>(
        'GET',
        `/v1/audit/events?user_id=${user.id}&type=${encodeURIComponent(filter)}`,
        { token },
      );
      expect(page.status, filter).toBe(200);
      return page.body.items.map((item) => item.type);
    };
    const all = ['user.login.failed', 'user.login', 'user.registered'];
    expect(await types('*')).toEqual(all);
    expect(await types('user.*')).toEqual(all);
    expect(await types('user.login.*')).toEqual(['user.login.failed']);
    expect(await types('security.*')).toEqual([]);
    const mine = await user.client.call<Page>('GET', '/v1/me/activity?type=*', {
      token: user.tokens.access_token,
    });
    expect(mine.body.items.map((item) => item.type)).toEqual(all);
  });

  it('shows callers their own trail at /v1/me/activity', async () => {
    const user = await signedUpUser(platform.baseUrl, 'trail');
    const other = await signedUpUser(platform.baseUrl, 'other');
    await user.client.call('POST', '/v1/auth/login', {
      body: { email: user.email, password: 'wrong-password-1' },
    });
    await rowsOf([user.id, other.id], 5);
    const activity = await user.client.call<Page>('GET', '/v1/me/activity', {
      token: user.tokens.access_token,
    });
    expect(activity.status).toBe(200);
    expect(activity.body.items.map((item) => item.type)).toEqual([
      'user.login.failed',
      'user.login',
      'user.registered',
    ]);
    expect(activity.body.items.every((item) => item.user_id === user.id)).toBe(true);
  });

  it('reports failed logins by IP and by targeted account', async () => {
    const user = await signedUpUser(platform.baseUrl, 'targeted');
    const attacker = apiClient(platform.baseUrl);
    for (let i = 0; i < 3; i++)
      await attacker.call('POST', '/v1/auth/login', {
        body: { email: user.email, password: `guess-${i}-wrong` },
      });
    await rowsOf([user.id], 5);
    const { client, token } = await admin();
    type Stats = {
      top_ips: { ip: string; failures: number }[];
      top_accounts: { email: string; failures: number; ips: number }[];
    };
    const stats = await client.call<Stats>('GET', '/v1/audit/stats/failed-logins?window=1m&limit=100', {
      token,
    });
    expect(stats.status).toBe(200);
    expect(stats.body.top_ips.find((row) => row.ip === attacker.ip)).toMatchObject({ failures: 3 });
    expect(stats.body.top_accounts.find((row) => row.email === user.email)).toMatchObject({
      failures: 3,
      ips: 1,
    });
    expect((await client.call('GET', '/v1/audit/stats/failed-logins?window=forever', { token })).status).toBe(
      400,
    );
  });

  it('reports at most `limit` IPs and accounts by failed logins', async () => {
    const users = [
      await signedUpUser(platform.baseUrl, 'limited-a'),
      await signedUpUser(platform.baseUrl, 'limited-b'),
    ];
    for (const user of users) {
      await apiClient(platform.baseUrl).call('POST', '/v1/auth/login', {
        body: { email: user.email, password: 'guess-1-wrong' },
      });
    }
    await rowsOf(
      users.map((user) => user.id),
      6,
    );
    const { client, token } = await admin();
    type Stats = { top_ips: unknown[]; top_accounts: unknown[] };
    const stats = async (limit: number) =>
      (await client.call<Stats>('GET', `/v1/audit/stats/failed-logins?window=1m&limit=${limit}`, { token }))
        .body;
    const everything = await stats(100);
    expect(everything.top_ips.length).toBeGreaterThanOrEqual(2);
    expect(everything.top_accounts.length).toBeGreaterThanOrEqual(2);
    const one = await stats(1);
    expect(one.top_ips).toEqual(everything.top_ips.slice(0, 1));
    expect(one.top_accounts).toEqual(everything.top_accounts.slice(0, 1));
  });

  it('is forbidden to users without the admin role and to API keys without audit:read', async () => {
    const user = await signedUpUser(platform.baseUrl, 'noaudit');
    const { client, token } = await admin();
    const hooksKey = await client.call<{ key: string }>('POST', '/v1/api-keys', {
      token,
      body: { name: 'hooks', scopes: ['webhooks:manage'] },
    });
    const auditKey = await client.call<{ key: string }>('POST', '/v1/api-keys', {
      token,
      body: { name: 'siem', scopes: ['audit:read'] },
    });
    const today = new Date().toISOString().slice(0, 10);
    for (const path of [
      '/v1/audit/events',
      `/v1/audit/stats/daily?from=${today}T00:00:00Z&to=${today}T23:59:59Z`,
      '/v1/audit/stats/failed-logins',
    ]) {
      expect((await client.call('GET', path, { token: user.tokens.access_token })).status, path).toBe(403);
      expect((await client.call('GET', path, { token: hooksKey.body.key })).status, path).toBe(403);
      expect((await client.call('GET', path, { token: auditKey.body.key })).status, path).toBe(200);
    }
  });
});
