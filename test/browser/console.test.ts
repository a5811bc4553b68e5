import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminSession, signedUpUser, TEST_ADMIN_PASSWORD, uniqueEmail } from '../helpers/api.js';
import { expectAccessible, launchChromium, screenshot } from '../helpers/browser.js';
import { type OwnPipeline, ownPipeline } from '../helpers/pipeline.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { type Receiver, startReceiver } from '../helpers/receiver.js';

// The operator console end to end in Debian's Chromium (playwright-core): sign-in, a subscription to a
// real receiver, deliveries seen arriving, a failing receiver's deliveries dead and bulk-replayed by
// filter (dry-run count first), a user's session revoked, hostile receiver text rendered inert, the
// CSRF token required, an accessibility scan and a screenshot of every page.

const ADMIN_EMAIL = uniqueEmail('console-admin');
let platform: TestPlatform;
let pipeline: OwnPipeline;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let api: Awaited<ReturnType<typeof adminSession>>;
let receiver: Receiver;
let trap: { hits: number; url: string; close: () => void };
let mode: 'ok' | 'hostile' = 'ok';
let subscriptionId = '';
/** The session the admin's console sign-in made (named by its cookie). */
let consoleSessionId = '';
const dialogs: string[] = [];

/** What a hostile receiver answers: markup that would run script or load the trap if rendered. */
const hostileBody = () =>
  `<script>window.__pwned = 1; fetch('${trap.url}/script')</script><img src="${trap.url}/img" onerror="window.__pwned = 2; alert(1)">`;

beforeAll(async () => {
  pipeline = await ownPipeline('console');
  platform = await startPlatform(
    {
      ...pipeline.env,
      ADMIN_EMAIL,
      ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
      WEBHOOK_RETRY_SCHEDULE: '1,1',
      WEBHOOK_RETRY_JITTER: '0',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_BREAKER_FAILURES: '1000',
    },
    { webhooks: true },
  );
  api = await adminSession(platform.baseUrl, ADMIN_EMAIL);
  receiver = await startReceiver(() =>
    mode === 'ok'
      ? { status: 200 }
      : { status: 500, headers: { 'content-type': 'text/html' }, body: hostileBody() },
  );
  const server = http.createServer((_req, res) => {
    trap.hits += 1;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  trap = {
    hits: 0,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => server.close(),
  };
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
}, 90_000);

afterAll(async () => {
  if (subscriptionId)
    await api?.client.call('DELETE', `/v1/webhooks/subscriptions/${subscriptionId}`, { token: api.token });
  await browser?.close();
  if (platform) {
    await platform.running.deps.sql`DELETE FROM webhook_replays WHERE queue = ${pipeline.env.WEBHOOK_QUEUE}`;
  }
  await platform?.stop();
  await pipeline?.remove();
  await receiver?.close();
  trap?.close();
}, 90_000);

const url = (path: string) => `${platform.baseUrl}/console${path}`;

/** Signs in through the form, as a person would: labelled fields and the Sign in button. */
async function signIn(on: Page, email: string, password: string) {
  await on.goto(url(''));
  await on.getByLabel('Email').fill(email);
  await on.getByLabel('Password', { exact: true }).fill(password);
  await on.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Visits a console page, scans it for accessibility and keeps its screenshot. */
async function visit(path: string, name: string) {
  await page.goto(url(path));
  await expectAccessible(page);
  await screenshot(page, `console-${name}`);
}

/** Reloads a page until `text` appears in `selector` (the platform works in the background). */
async function reloadUntil(selector: string, text: string, timeout = 30_000) {
  await expect
    .poll(
      async () => {
        await page.reload();
        // (allInnerTexts does not wait for the element: the poll looks again instead)
        return (await page.locator(selector).allInnerTexts()).join('\n');
      },
      { timeout, interval: 500 },
    )
    .toContain(text);
}

describe('the operator console in Chromium', () => {
  it("a plain user's credentials do not open it (signed in with the keyboard alone)", async () => {
    const user = await signedUpUser(platform.baseUrl, 'console-plain');
    const other = await browser.newContext();
    const plain = await other.newPage();
    await plain.goto(url(''));
    // Tab past the skip link to Email, type, Tab to Password, type, Enter: no mouse.
    await plain.keyboard.press('Tab');
    await plain.keyboard.press('Tab');
    await plain.keyboard.type(user.email);
    await plain.keyboard.press('Tab');
    await plain.keyboard.type(user.password);
    await plain.keyboard.press('Enter');
    await plain.getByText('needs the admin role').waitFor();
    await plain.goto(url('/subscriptions'));
    expect(new URL(plain.url()).pathname).toBe('/console/sign-in');
    await expectAccessible(plain);
    await screenshot(plain, 'console-sign-in');
    await other.close();
  });

  it('signs an admin in, creates a subscription (field errors first) and shows a delivery arriving with its attempt', async () => {
    await signIn(page, ADMIN_EMAIL, TEST_ADMIN_PASSWORD);
    await page.waitForURL(url(''));
    const cookie = (await context.cookies()).find((c) => c.name === 'hookline_console');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' });
    consoleSessionId = cookie?.value.split('.')[1] ?? '';

    await visit('/subscriptions/new', 'subscription-new');
    await page.getByLabel('Endpoint URL').fill('ftp://nowhere');
    await page.getByLabel('Event types').fill('user.registered');
    await page.getByRole('button', { name: 'Create subscription' }).click();
    expect(await page.locator('#f-url-error').innerText()).not.toBe('');
    await page.getByLabel('Endpoint URL').fill(receiver.url);
    await page.getByRole('button', { name: 'Create subscription' }).click();
    await page.getByRole('heading', { name: 'Signing secret' }).waitFor();
    expect(await page.locator('#secret-value').innerText()).toMatch(/^whsec_/);
    subscriptionId = (await page.locator('dl.pairs code').first().innerText()).trim();

    const user = await signedUpUser(platform.baseUrl, 'console-delivered');
    await receiver.waitFor(1, 30_000, (r) => r.body.includes(user.email));
    await page.goto(url(`/subscriptions/${subscriptionId}`));
    await page.locator('#recent-deliveries').getByText('succeeded').waitFor({ timeout: 20_000 });
    // A test event, watched arriving: the recent deliveries refresh themselves (no reload here).
    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByText('watch it arrive below').waitFor();
    await page
      .locator('#recent-deliveries tr', { hasText: 'webhook.test' })
      .getByText('succeeded')
      .waitFor({ timeout: 20_000 });
    await receiver.waitFor(
      1,
      5_000,
      (r) => r.headers['webhook-id'] !== undefined && r.body.includes('"webhook.test"'),
    );
    await expectAccessible(page);
    await screenshot(page, 'console-subscription');
    await page.locator('#recent-deliveries a').first().click();
    await page.getByRole('heading', { name: 'Attempts' }).waitFor();
    expect(await page.locator('section[aria-labelledby="attempts"] tbody').innerText()).toContain('200');
    expect(await page.locator('section[aria-labelledby="headers"] pre').innerText()).not.toMatch(/whsec_/);
    await expectAccessible(page);
    await screenshot(page, 'console-delivery');
  }, 120_000);

  it("renders a hostile receiver's answer inert, and bulk-replays the dead deliveries by filter after a dry-run count", async () => {
    mode = 'hostile';
    const user = await signedUpUser(platform.baseUrl, 'console-dead');
    await visit(`/deliveries?subscription_id=${subscriptionId}&status=dead`, 'deliveries');
    await reloadUntil('main table', 'user.registered');
    await page.locator('main table a').first().click();
    await page.getByRole('heading', { name: 'Attempts' }).waitFor();
    const deadDelivery = page.url();
    expect(await page.locator('pre.excerpt').first().innerText()).toContain('<script>');
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(trap.hits).toBe(0);
    await expectAccessible(page);

    mode = 'ok';
    const before = receiver.requests.filter((r) => r.body.includes(user.email)).length;
    await visit('/replays', 'replays');
    await page.getByLabel('Subscription id').fill(subscriptionId);
    await page.getByRole('button', { name: 'Count matching deliveries' }).click();
    expect(await page.locator('#dry-run-count').innerText()).toContain('1 deliveries match');
    await page.getByRole('button', { name: 'Replay 1 deliveries' }).click();
    await reloadUntil('#replay-list', '1 / 1');
    expect(await page.locator('#replay-list').innerText()).toContain('done');
    await receiver.waitFor(before + 1, 20_000, (r) => r.body.includes(user.email));
    await page.goto(deadDelivery);
    await reloadUntil('dl.pairs', 'succeeded');

    // Started again with the same filter: nothing is dead any more, so nothing is sent twice.
    const again = await api.client.call<{ requeued: number; total: number }>('POST', '/v1/webhooks/replays', {
      token: api.token,
      body: { filter: { subscription_id: subscriptionId, status: 'dead' } },
    });
    expect(again.status).toBe(202);
    expect(again.body.total).toBe(0);
    expect(receiver.requests.filter((r) => r.body.includes(user.email))).toHaveLength(before + 1);
  }, 120_000);

  it("revokes a user's session: its access token is refused on the next API request", async () => {
    const user = await signedUpUser(platform.baseUrl, 'console-revoked');
    const me = () => user.client.call('GET', '/v1/me', { token: user.tokens.access_token });
    expect((await me()).status).toBe(200);
    await visit(`/users?email=${encodeURIComponent(user.email)}`, 'users');
    await page.getByRole('link', { name: user.email }).click();
    await page.getByRole('heading', { name: 'Active sessions' }).waitFor();
    await expectAccessible(page);
    await screenshot(page, 'console-user');
    await page.getByRole('button', { name: `Revoke session ${user.tokens.session_id}` }).click();
    await page.getByText('Session revoked').waitFor();
    expect((await me()).status).toBe(401);
  });

  it('signs in with an API key that holds webhooks:manage, without the users pages; a key without it is refused', async () => {
    const key = (scopes: string[]) =>
      api.client.call<{ id: string; key: string }>('POST', '/v1/api-keys', {
        token: api.token,
        body: { name: `console-${scopes.join('-') || 'none'}`, scopes },
      });
    const [hooksKey, auditKey] = await Promise.all([key(['webhooks:manage']), key(['audit:read'])]);
    const other = await browser.newContext();
    const keyed = await other.newPage();
    try {
      await keyed.goto(url(''));
      await keyed.getByLabel('API key').fill(auditKey.body.key);
      await keyed.getByRole('button', { name: 'Sign in with the key' }).click();
      await keyed.getByText('lacks webhooks:manage').waitFor();
      await keyed.getByLabel('API key').fill(hooksKey.body.key);
      await keyed.getByRole('button', { name: 'Sign in with the key' }).click();
      await keyed.waitForURL(url(''));
      await keyed.goto(url('/subscriptions'));
      expect(await keyed.getByRole('link', { name: receiver.url }).count()).toBe(1);
      expect(await keyed.getByRole('link', { name: 'Users' }).count()).toBe(0);
      const users = await keyed.goto(url('/users'));
      expect(users?.status()).toBe(403);
    } finally {
      await other.close();
      for (const made of [hooksKey, auditKey]) {
        await api.client.call('DELETE', `/v1/api-keys/${made.body.id}`, { token: api.token });
      }
    }
  });

  it('refuses a state change without the CSRF token, and accepts it with the token', async () => {
    await page.goto(url(`/subscriptions/${subscriptionId}`));
    const token = await page.locator('input[name="_csrf"]').first().inputValue();
    const status = (withToken: boolean) =>
      page.evaluate(
        async ([path, token]) => {
          const body = token ? `_csrf=${encodeURIComponent(token)}` : '';
          const response = await fetch(path, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body,
          });
          return response.status;
        },
        [`/console/subscriptions/${subscriptionId}/enable`, withToken ? token : ''] as const,
      );
    expect(await status(false)).toBe(403);
    expect(await status(true)).toBe(200);
  });

  it('shows every other page accessibly, the overview also at phone width, and signs out', async () => {
    await visit('', 'overview');
    expect(await page.locator('canvas#per-minute-chart').getAttribute('width')).not.toBeNull();
    await visit('/subscriptions', 'subscriptions');
    await visit('/events', 'events');
    await page.setViewportSize({ width: 390, height: 844 });
    await visit('', 'overview-phone');
    // Nothing wider than the screen (wide tables scroll inside their own box).
    const fits = () => {
      const view = globalThis as unknown as {
        innerWidth: number;
        document: { documentElement: { scrollWidth: number } };
      };
      return view.document.documentElement.scrollWidth <= view.innerWidth;
    };
    expect(await page.evaluate(fits)).toBe(true);
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/console\/sign-in/);
    await page.goto(url(''));
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    // The console's session was revoked like the API's logout.
    const [session] = await platform.running.deps.sql<{ revoked_at: Date | null }[]>`
      SELECT revoked_at FROM sessions WHERE id = ${consoleSessionId}`;
    expect(session?.revoked_at).toBeInstanceOf(Date);
  });
});
