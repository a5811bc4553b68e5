import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, randomIp, signedUpUser, uniqueEmail } from '../helpers/api.js';
import { type EventRecorder, recordEvents } from '../helpers/events.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';

const WINDOW_SECONDS = 10;
let platform: TestPlatform;
let recorder: EventRecorder;

beforeAll(async () => {
  recorder = await recordEvents();
  platform = await startPlatform({
    LOGIN_WINDOW_SECONDS: String(WINDOW_SECONDS),
    LOGIN_MAX_FAILURES_PER_ACCOUNT_IP: '3',
    LOGIN_MAX_FAILURES_PER_ACCOUNT: '5',
    LOGIN_MAX_PER_IP: '8',
  });
});
afterAll(async () => {
  await platform?.stop();
  await recorder?.stop();
});

const fail = (client: ReturnType<typeof apiClient>, email: string) =>
  client.call('POST', '/v1/auth/login', { body: { email, password: 'guessed-wrong-123' } });

describe('brute-force limits on login', () => {
  it('refuse an account from one IP after too many failures, with 429 and Retry-After', async () => {
    const user = await signedUpUser(platform.baseUrl, 'acct-ip');
    const attacker = apiClient(platform.baseUrl);
    for (let i = 0; i < 3; i++) expect((await fail(attacker, user.email)).status).toBe(401);
    const refused = await attacker.call('POST', '/v1/auth/login', {
      body: { email: user.email, password: user.password },
    });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'rate_limited' });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);

    // The real user, elsewhere, is not locked out.
    const elsewhere = await apiClient(platform.baseUrl).call('POST', '/v1/auth/login', {
      body: { email: user.email, password: user.password },
    });
    expect(elsewhere.status).toBe(200);

    const [locked] = await recorder.waitFor(
      (e) =>
        e.envelope.user_id === user.id &&
        e.envelope.type === 'user.login.failed' &&
        (e.envelope.data as { reason: string }).reason === 'locked',
    );
    expect(locked?.envelope.data).toEqual({ email: user.email, reason: 'locked', limit: 'account_ip' });
  });

  it('past the account-wide limit, refuse new IPs but not an IP the user signed in from before', async () => {
    const user = await signedUpUser(platform.baseUrl, 'acct');
    const home = user.client; // signed in from here already
    for (let i = 0; i < 5; i++)
      expect((await fail(apiClient(platform.baseUrl), user.email)).status).toBe(401);

    const newIp = await apiClient(platform.baseUrl).call('POST', '/v1/auth/login', {
      body: { email: user.email, password: user.password },
    });
    expect(newIp.status).toBe(429);
    const fromHome = await home.call('POST', '/v1/auth/login', {
      body: { email: user.email, password: user.password },
    });
    expect(fromHome.status).toBe(200);
  });

  it('count parallel guesses before checking them: a burst cannot slip under the limit', async () => {
    const user = await signedUpUser(platform.baseUrl, 'burst');
    const attacker = apiClient(platform.baseUrl);
    const answers = await Promise.all(Array.from({ length: 12 }, () => fail(attacker, user.email)));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(3);
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(9);
  });

  it('refuse one IP spraying many accounts', async () => {
    const sprayer = apiClient(platform.baseUrl, { ip: randomIp() });
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push((await fail(sprayer, uniqueEmail('spray'))).status);
    expect(statuses.slice(0, 8)).toEqual(Array(8).fill(401));
    expect(statuses[8]).toBe(429);
  });

  it('end when their window ends: a refusal is never forever', async () => {
    const user = await signedUpUser(platform.baseUrl, 'expiry');
    const client = apiClient(platform.baseUrl);
    for (let i = 0; i < 3; i++) await fail(client, user.email);
    expect(
      (await client.call('POST', '/v1/auth/login', { body: { email: user.email, password: user.password } }))
        .status,
    ).toBe(429);
    // A fixed wait: the window is a Redis key's TTL, on Redis's clock, which no test can move.
    await new Promise((resolve) => setTimeout(resolve, (WINDOW_SECONDS + 1) * 1_000));
    expect(
      (await client.call('POST', '/v1/auth/login', { body: { email: user.email, password: user.password } }))
        .status,
    ).toBe(200);
  }, 30_000);
});
