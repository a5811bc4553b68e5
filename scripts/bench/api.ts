// The API under a mixed load (successes, 4xx of several kinds, a few wrong passwords) over many route
// templates, so its /metrics carries the label cardinality of real traffic, scraped meanwhile. The API
// and its relay are stopped when the phase ends.
import { metricNames } from '../../src/metrics/names.js';
import { type Children, cpuMeter, cpuSeconds } from './children.js';
import { metricSum, Scraper, withRest } from './scraper.js';

export interface ApiContext {
  children: Children;
  env: Record<string, string>;
  run: string;
  seconds: number;
  say: (text: string) => void;
}

const isReady = (line: string) => line.includes('"process ready"');

export async function apiPhase({ children, env, run, seconds, say }: ApiContext) {
  const apiEnv = {
    ...env,
    JWT_SECRET: `bench-${run}-0123456789abcdef0123456789abcdef`,
    REGISTER_MAX_PER_IP: '100000',
    LOGIN_MAX_PER_IP: '100000',
    LOGIN_MAX_FAILURES_PER_ACCOUNT_IP: '1000',
    LOGIN_MAX_FAILURES_PER_ACCOUNT: '10000',
  };
  const api = await children.start(['workers/api.ts'], apiEnv, isReady);
  const relay = await children.start(['workers/relay.ts'], env, isReady); // so the API's events do not pile up
  const relayMetrics = `http://127.0.0.1:${(JSON.parse(relay.line) as { port: number }).port}/metrics`;
  const published = async () =>
    metricSum(await (await fetch(relayMetrics)).text(), metricNames.eventsPublished);
  try {
    const meter = cpuMeter({
      api: () => cpuSeconds(api.child.pid),
      relay: () => cpuSeconds(relay.child.pid),
    });
    const cpuBefore = meter.snapshot();
    const publishedBefore = await published();
    const result = await load(
      `http://127.0.0.1:${(JSON.parse(api.line) as { port: number }).port}`,
      run,
      seconds,
      say,
    );
    // The relay publishes what the API wrote within moments; a second is more than it needs.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const cpu = meter.since(cpuBefore) as { api: number; relay: number };
    return { ...result, cpu_seconds: cpu, events_published: (await published()) - publishedBefore };
  } finally {
    await children.stop(relay.child);
    await children.stop(api.child);
  }
}

async function load(base: string, run: string, seconds: number, say: (text: string) => void) {
  const call = async (method: string, path: string, body?: unknown, token?: string) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const password = 'bench-passphrase-kettle-97';
  const users: { email: string; token: string; refresh: string }[] = [];
  for (let i = 0; i < 8; i++) {
    const email = `bench-${run}-${i}@example.com`;
    await call('POST', '/v1/auth/register', { email, password, name: 'bench' });
    const login = await call('POST', '/v1/auth/login', { email, password });
    if (login.status !== 200) throw new Error(`bench login failed: ${JSON.stringify(login.body)}`);
    users.push({ email, token: String(login.body.access_token), refresh: String(login.body.refresh_token) });
  }
  const operations: ((user: (typeof users)[number]) => Promise<number>)[] = [
    async (u) => (await call('GET', '/v1/me', undefined, u.token)).status,
    async (u) => (await call('GET', '/v1/me/sessions', undefined, u.token)).status,
    async (u) => (await call('PATCH', '/v1/me', { name: `bench ${Math.random()}` }, u.token)).status,
    async (u) => {
      const answer = await call('POST', '/v1/auth/refresh', { refresh_token: u.refresh });
      if (answer.status === 200) {
        u.token = String(answer.body.access_token);
        u.refresh = String(answer.body.refresh_token);
      }
      return answer.status;
    },
    async () => (await call('GET', '/v1/me')).status, // 401
    async () => (await call('POST', '/v1/auth/register', { email: 'not-an-email' })).status, // 400
    async () => (await call('GET', '/v1/no-such-route')).status, // 404
    async (u) => (await call('DELETE', '/v1/me/sessions/not-a-uuid', undefined, u.token)).status, // 400
    async () => (await call('GET', '/v1/event-types')).status,
  ];
  const scraper = new Scraper({ api: `${base}/metrics` });
  const scraping = scraper.run();
  const byStatus: Record<string, number> = {};
  let requests = 0;
  const until = Date.now() + seconds * 1_000;
  await Promise.all(
    Array.from({ length: 16 }, async (_, worker) => {
      const user = users[worker % users.length] as (typeof users)[number];
      for (let i = 0; Date.now() < until; i++) {
        // One wrong password in 50 requests: argon2 verification is the API's heaviest work.
        const status =
          i % 50 === 49
            ? (await call('POST', '/v1/auth/login', { email: user.email, password: 'wrong-password' })).status
            : await (operations[(worker + i) % operations.length] as (typeof operations)[number])(user);
        byStatus[status] = (byStatus[status] ?? 0) + 1;
        requests += 1;
      }
    }),
  );
  const scrapes = withRest(await scraper.stop(scraping), await scraper.atRest(50));
  const requestsPerSecond = Math.round(requests / seconds);
  say(`api: ${requestsPerSecond} requests/s for ${seconds} s, by status ${JSON.stringify(byStatus)}`);
  return { scrapes, requestsPerSecond, byStatus, requests };
}
