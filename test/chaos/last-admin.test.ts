import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminSession, TEST_ADMIN_PASSWORD, uniqueEmail } from '../helpers/api.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';

// Demotes every admin but one, so it runs alone (the `chaos` project), never beside other tests.
const ADMIN_EMAIL = uniqueEmail('last-admin');
const ADMIN_PASSWORD = TEST_ADMIN_PASSWORD;
let platform: TestPlatform;
beforeAll(async () => {
  platform = await startPlatform({ ADMIN_EMAIL, ADMIN_PASSWORD });
});
afterAll(async () => {
  await platform?.stop();
});

describe('the last admin', () => {
  it('cannot be demoted (409), so the platform always keeps one', async () => {
    const { client, token } = await adminSession(platform.baseUrl, ADMIN_EMAIL);
    const me = await client.call<{ id: string }>('GET', '/v1/me', { token });
    type Page = { items: { id: string; role: string }[]; next_cursor: string | null };
    const admins: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: Page } = await client.call<Page>(
        'GET',
        `/v1/users?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
        { token },
      );
      admins.push(...page.body.items.filter((u) => u.role === 'admin').map((u) => u.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    for (const id of admins.filter((id) => id !== me.body.id)) {
      expect(
        (await client.call('PUT', `/v1/users/${id}/role`, { token, body: { role: 'user' } })).status,
      ).toBe(200);
    }
    const self = await client.call('PUT', `/v1/users/${me.body.id}/role`, { token, body: { role: 'user' } });
    expect(self.status).toBe(409);
    expect(self.body).toMatchObject({ code: 'conflict' });
    expect((await client.call('GET', '/v1/users', { token })).status).toBe(200);
  });
});
