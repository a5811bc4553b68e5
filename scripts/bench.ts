// `npm run bench`: drives the real webhook pipeline on the local stack and reports figures.
// Events are produced into Kafka; a fan-out process and a delivery process (each as `npm run
// start:fanout` / `start:delivery` would run them) turn them into signed POSTs to a local receiver
// process answering 200. Two phases: sustained throughput (as fast as it goes), then end-to-end latency
// at 1,000 deliveries/s, while the two processes' /metrics are scraped every 250 ms; then a third: the
// API under mixed traffic, its /metrics scraped likewise. Writes .bench/latest.json.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../src/config/load.js';
import { createDatabase } from '../src/db/client.js';
import { buildEvent, messageKeyOf } from '../src/events/envelope.js';
import { allTopics, topics } from '../src/events/topics.js';
import { createKafka } from '../src/kafka/client.js';
import { startGroupAtEnd } from '../src/kafka/topics.js';
import { createLogger } from '../src/logger.js';
import { createRedis } from '../src/redis.js';
import { newSigningSecret } from '../src/webhooks/signing.js';
import { notifySubscriptionsChanged } from '../src/webhooks/subscription-index.js';

const THROUGHPUT_EVENTS = Number(process.env.BENCH_EVENTS ?? 30_000);
const LATENCY_RATE = Number(process.env.BENCH_RATE ?? 1_000);
const LATENCY_SECONDS = Number(process.env.BENCH_SECONDS ?? 15);

const config = loadConfig('all', process.env);
const logger = createLogger({ level: 'error', process: 'bench' });
const run = `${Date.now().toString(36)}`;
const groupId = `hookline-bench-${run}`;
const queueName = `hookline-bench-${run}`;
const children: ChildProcess[] = [];
const say = (text: string) => console.log(`\x1b[1m[bench]\x1b[0m ${text}`);

function start(
  command: string[],
  env: Record<string, string>,
  ready: (line: string) => boolean,
): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...command], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`${command.join(' ')} did not start`)), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      for (const line of buffer.split('\n')) {
        if (ready(line)) {
          clearTimeout(timer);
          child.stdout?.removeAllListeners('data');
          child.stdout?.resume();
          resolve({ child, line });
          return;
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`${command.join(' ')} exited with ${code}`)));
  });
}

/** User + system CPU seconds a process has used so far (from /proc). */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}
const pidsOf = (pattern: string) => {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number)
      .filter(Boolean);
  } catch {
    return [];
  }
};

const { sql, end } = createDatabase({
  url: config.DATABASE_URL,
  poolSize: 2,
  applicationName: 'hookline-bench',
});
const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'hookline-bench', logger });
const admin = kafka.admin();
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
const subscriptionId = uuidv7();

async function produce(count: number): Promise<void> {
  for (let startAt = 0; startAt < count; startAt += 1_000) {
    const events = Array.from({ length: Math.min(1_000, count - startAt) }, () => {
      const userId = uuidv7();
      return buildEvent({
        type: 'user.profile.updated',
        userId,
        actor: { type: 'user', id: userId },
        meta: { ip: null, userAgent: null, requestId: null },
        data: { changes: { name: { old: 'bench', new: run } } },
      });
    });
    await producer.send({
      topic: topics.userChanges,
      acks: -1,
      messages: events.map((e) => ({ key: messageKeyOf(e), value: JSON.stringify(e) })),
    });
  }
}

const SCRAPE_EVERY_MS = 250;

/** The value of the first sample of `name` (whose line contains `label`) in a /metrics text. */
const metricValue = (text: string, name: string, label = '') =>
  Number(
    text
      .split('\n')
      .find((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(label))
      ?.split(' ')
      .at(-1) ?? Number.NaN,
  );
const API_SECONDS = Number(process.env.BENCH_API_SECONDS ?? 10);

/**
 * Scrapes the processes' /metrics while the bench runs, as Prometheus would (more often): the round
 * trip as a scraper sees it, and the process's own rendering time (hookline_metrics_scrape_duration_seconds).
 */
class Scraper {
  private running = true;
  private readonly timings = new Map<string, number[]>();
  private readonly last = new Map<string, string>();

  constructor(private readonly targets: Record<string, string>) {}

  async run(): Promise<void> {
    while (this.running) {
      for (const [name, url] of Object.entries(this.targets)) {
        const started = performance.now();
        const text = await (await fetch(url)).text();
        const took = performance.now() - started;
        this.timings.set(name, [...(this.timings.get(name) ?? []), took]);
        this.last.set(name, text);
      }
      await sleep(SCRAPE_EVERY_MS);
    }
  }

  /** The mean rendering time of `count` scrapes of each target in a row, with nothing else going on. */
  async atRest(count: number): Promise<Record<string, number>> {
    const rendered = async (url: string) => {
      const text = await (await fetch(url)).text();
      return {
        sum: metricValue(text, 'hookline_metrics_scrape_duration_seconds_sum'),
        count: metricValue(text, 'hookline_metrics_scrape_duration_seconds_count'),
      };
    };
    const means: Record<string, number> = {};
    for (const [name, url] of Object.entries(this.targets)) {
      const before = await rendered(url);
      for (let i = 0; i < count; i++) await (await fetch(url)).text();
      const after = await rendered(url);
      means[name] = Number((((after.sum - before.sum) / (after.count - before.count)) * 1_000).toFixed(2));
    }
    return means;
  }

  async stop(running: Promise<void>) {
    this.running = false;
    await running;
    const round = (ms: number) => Number(ms.toFixed(2));
    return Object.fromEntries(
      Object.keys(this.targets).map((name) => {
        const sorted = [...(this.timings.get(name) ?? [])].sort((a, b) => a - b);
        const at = (q: number) =>
          round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
        const text = this.last.get(name) ?? '';
        const renderSeconds =
          metricValue(text, 'hookline_metrics_scrape_duration_seconds_sum') /
          metricValue(text, 'hookline_metrics_scrape_duration_seconds_count');
        return [
          name,
          {
            scrapes: sorted.length,
            series: text.split('\n').filter((line) => line && !line.startsWith('#')).length,
            render_mean_ms: round(renderSeconds * 1_000),
            render_cpu_mean_ms: round(
              (metricValue(text, 'hookline_metrics_scrape_cpu_seconds_total') * 1_000) /
                metricValue(text, 'hookline_metrics_scrape_duration_seconds_count'),
            ),
            render_within_5ms: Number(
              (
                metricValue(text, 'hookline_metrics_scrape_duration_seconds_bucket', 'le="0.005"') /
                metricValue(text, 'hookline_metrics_scrape_duration_seconds_count')
              ).toFixed(4),
            ),
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: round(sorted.at(-1) ?? 0),
          },
        ];
      }),
    );
  }
}

const withRest = <T extends object>(underLoad: Record<string, T>, atRest: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(underLoad).map(([name, figures]) => [
      name,
      { ...figures, render_at_rest_ms: atRest[name] },
    ]),
  );

/**
 * The API under a mixed load (successes, 4xx of several kinds, a few wrong passwords) over many route
 * templates, so its /metrics carries the label cardinality of real traffic, scraped meanwhile.
 */
async function apiPhase(env: Record<string, string>, isReady: (line: string) => boolean) {
  const apiEnv = {
    ...env,
    JWT_SECRET: `bench-${run}-0123456789abcdef0123456789abcdef`,
    REGISTER_MAX_PER_IP: '100000',
    LOGIN_MAX_PER_IP: '100000',
    LOGIN_MAX_FAILURES_PER_ACCOUNT_IP: '1000',
    LOGIN_MAX_FAILURES_PER_ACCOUNT: '10000',
  };
  const api = await start(['workers/api.ts'], apiEnv, isReady);
  await start(['workers/relay.ts'], env, isReady); // so the API's events do not pile up in the outbox
  const base = `http://127.0.0.1:${(JSON.parse(api.line) as { port: number }).port}`;
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
  const until = Date.now() + API_SECONDS * 1_000;
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
  const requestsPerSecond = Math.round(requests / API_SECONDS);
  say(`api: ${requestsPerSecond} requests/s for ${API_SECONDS} s, by status ${JSON.stringify(byStatus)}`);
  return { scrapes, requestsPerSecond, byStatus };
}

type Stats = {
  received: number;
  distinct: number;
  duplicates: number;
  first_at: number | null;
  last_at: number | null;
  p50: number;
  p95: number;
  p99: number;
  max: number;
};

async function main() {
  await admin.connect();
  await producer.connect();
  // A consumer group of its own, starting at the end of each topic: only this run's events count.
  await startGroupAtEnd(admin, groupId, allTopics);

  const started0 = await start(['scripts/bench-receiver.ts'], {}, (line) => line.startsWith('{"port"'));
  const receiver = started0.child;
  const receiverPort = (JSON.parse(started0.line) as { port: number }).port;
  const stats = async (reset = false): Promise<Stats> =>
    (await (await fetch(`http://127.0.0.1:${receiverPort}/stats${reset ? '?reset=1' : ''}`)).json()) as Stats;

  await sql`INSERT INTO webhook_subscriptions (id, url, event_types, secret, description)
    VALUES (${subscriptionId}, ${`http://127.0.0.1:${receiverPort}/hooks`}, ${['user.profile.updated']}, ${newSigningSecret()}, 'npm run bench')`;
  await notifySubscriptionsChanged(sql);
  const others = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM webhook_subscriptions
    WHERE enabled AND id <> ${subscriptionId} AND (event_types && ARRAY['*', 'user.*', 'user.profile.updated'])`;

  const env = {
    FANOUT_GROUP_ID: groupId,
    WEBHOOK_QUEUE: queueName,
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
    LOG_LEVEL: 'info',
    PORT: '0',
  };
  const isReady = (line: string) => line.includes('"process ready"');
  const portOf = (line: string) => (JSON.parse(line) as { port: number }).port;
  const fanoutStarted = await start(['workers/fanout.ts'], env, isReady);
  const deliveryStarted = await start(['workers/delivery.ts'], env, isReady);
  const fanout = fanoutStarted.child;
  const delivery = deliveryStarted.child;
  const scraper = new Scraper({
    fanout: `http://127.0.0.1:${portOf(fanoutStarted.line)}/metrics`,
    delivery: `http://127.0.0.1:${portOf(deliveryStarted.line)}/metrics`,
  });
  const processes = {
    fanout: () => cpuSeconds(fanout.pid),
    delivery: () => cpuSeconds(delivery.pid),
    receiver: () => cpuSeconds(receiver.pid),
    kafka: () => pidsOf('kafka.Kafka').reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    redis: () => pidsOf('redis-server').reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    postgres: () => pidsOf('postgres').reduce((sum, pid) => sum + cpuSeconds(pid), 0),
  };
  const cpuSnapshot = () =>
    Object.fromEntries(Object.entries(processes).map(([name, read]) => [name, read()]));
  const cpuSince = (before: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(cpuSnapshot()).map(([name, now]) => [
        name,
        Number((now - (before[name] ?? 0)).toFixed(2)),
      ]),
    );
  const waitFor = async (count: number, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    let current = await stats();
    while (current.distinct < count && Date.now() < deadline) {
      await sleep(100);
      current = await stats();
    }
    return current;
  };

  say(
    `warming up (500 events)${others[0]?.n ? `; note: ${others[0].n} other enabled subscriptions also match these events` : ''}`,
  );
  await produce(500);
  await waitFor(500, 60_000);
  await stats(true);

  say(
    `throughput: ${THROUGHPUT_EVENTS} events as fast as they go (scraping /metrics every ${SCRAPE_EVERY_MS} ms)`,
  );
  const scraping = scraper.run();
  let cpuBefore = cpuSnapshot();
  const started = Date.now();
  await produce(THROUGHPUT_EVENTS);
  const produced = Date.now();
  const throughput = await waitFor(THROUGHPUT_EVENTS, 300_000);
  const elapsedSeconds = ((throughput.last_at ?? Date.now()) - started) / 1_000;
  const deliveriesPerSecond = Math.round(throughput.distinct / elapsedSeconds);
  const throughputCpu = cpuSince(cpuBefore);
  say(
    `${throughput.distinct} delivered in ${elapsedSeconds.toFixed(1)} s (produced in ${((produced - started) / 1_000).toFixed(1)} s): ${deliveriesPerSecond} deliveries/s`,
  );
  await stats(true);

  say(`latency: ${LATENCY_RATE} events/s for ${LATENCY_SECONDS} s`);
  cpuBefore = cpuSnapshot();
  const total = LATENCY_RATE * LATENCY_SECONDS;
  const tick = 50;
  const perTick = Math.max(1, Math.round((LATENCY_RATE * tick) / 1_000));
  const latencyStart = Date.now();
  for (let sent = 0; sent < total; sent += perTick) {
    const due = latencyStart + (sent / LATENCY_RATE) * 1_000;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    await produce(Math.min(perTick, total - sent));
  }
  const latency = await waitFor(total, 120_000);
  const scrapes = withRest(await scraper.stop(scraping), await scraper.atRest(50));
  const latencyCpu = cpuSince(cpuBefore);
  say(
    `${latency.distinct} delivered; end-to-end p50 ${latency.p50} ms, p95 ${latency.p95} ms, p99 ${latency.p99} ms, max ${latency.max} ms`,
  );
  const api = await apiPhase(env, isReady);
  Object.assign(scrapes, api.scrapes);
  for (const [name, figures] of Object.entries(scrapes)) {
    say(
      `/metrics of ${name} under load: ${figures.series} series; rendering ${figures.render_mean_ms} ms on average (${figures.render_cpu_mean_ms} ms of CPU; ${figures.render_at_rest_ms} ms at rest), ${(figures.render_within_5ms * 100).toFixed(1)} % within 5 ms; round trip p50 ${figures.p50_ms} ms, p99 ${figures.p99_ms} ms (${figures.scrapes} scrapes)`,
    );
  }

  const result = {
    at: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    deliveries_per_second: deliveriesPerSecond,
    throughput: {
      events: THROUGHPUT_EVENTS,
      delivered: throughput.distinct,
      duplicates: throughput.duplicates,
      seconds: Number(elapsedSeconds.toFixed(2)),
      cpu_seconds: throughputCpu,
    },
    e2e_latency_ms: { p50: latency.p50, p95: latency.p95, p99: latency.p99, max: latency.max },
    latency: {
      rate_per_second: LATENCY_RATE,
      seconds: LATENCY_SECONDS,
      delivered: latency.distinct,
      duplicates: latency.duplicates,
      cpu_seconds: latencyCpu,
    },
    api: { requests_per_second: api.requestsPerSecond, by_status: api.byStatus },
    metrics_scrape: scrapes,
    targets: { deliveries_per_second: 3_000, p99_ms_at_1000_per_second: 100, scrape_ms: 5 },
  };
  mkdirSync('.bench', { recursive: true });
  writeFileSync('.bench/latest.json', `${JSON.stringify(result, null, 2)}\n`);
  say('wrote .bench/latest.json');
  console.log(JSON.stringify(result, null, 2));
}

try {
  await main();
} finally {
  for (const child of children) child.kill('SIGTERM');
  await sleep(1_000);
  await sql`DELETE FROM webhook_subscriptions WHERE id = ${subscriptionId}`.catch(() => {});
  await notifySubscriptionsChanged(sql).catch(() => {});
  const connection = createRedis(config.REDIS_URL, 'queue', 'bench-cleanup');
  const queue = new Queue(queueName, { connection });
  await queue.obliterate({ force: true }).catch(() => {});
  await queue.close();
  connection.disconnect(); // a connection handed to BullMQ stays open after queue.close()
  await admin.deleteGroups([groupId]).catch(() => {});
  await producer.disconnect();
  await admin.disconnect();
  await end({ timeout: 5 });
}
