import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { buildSystemEvent } from '../../src/events/envelope.js';
import { createRedis } from '../../src/redis.js';
import { FlowControl } from '../../src/webhooks/flow/flow-control.js';
import { linesKey } from '../../src/webhooks/flow/model.js';
import { enqueueDeliveries } from '../../src/webhooks/queue/enqueue.js';
import { type ApiClient, adminSession, TEST_ADMIN_PASSWORD, uniqueEmail } from '../helpers/api.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { scrape } from '../helpers/metrics.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { type SpawnedProcess, spawnProcess } from '../helpers/process.js';
import { settle } from '../helpers/settle.js';

// Issue 12's flow limits checked where they matter, at real receivers, while two delivery processes
// share the work (docs/adr/0009). The API runs in this process; the delivery workers are two
// processes of their own, on a queue of this file's own (removed at the end). The events are sent
// with the API's test event (`POST /v1/webhooks/subscriptions/{id}/test`: enqueued with the same
// admission as the fan-out's, without Kafka), to subscriptions that no Kafka event matches: a fan-out
// of any other install on the same stack (a bench, another test's workers) would otherwise fan the
// same events out to these subscriptions into queues of its own, sharing their flow-control keys.

const run = uniqueSuffix();
const ADMIN_EMAIL = uniqueEmail('flow-admin');
const queueName = `test-flow-limits-${run}`;
/** Above the kill test's 3 s answers; short, so that a killed process's leases (this + 5 s) lapse soon. */
const WEBHOOK_TIMEOUT_MS = 4_000;
const deliveryEnv = {
  WEBHOOK_QUEUE: queueName,
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
  // Far more worker slots than any limit below: only flow control can hold the attempts back.
  DELIVERY_CONCURRENCY: '50',
  WEBHOOK_TIMEOUT_MS: String(WEBHOOK_TIMEOUT_MS),
  // Its sweeper would re-queue other tests' overdue deliveries into this file's queue.
  DELIVERY_SWEEP_INTERVAL_SECONDS: '0',
};
// The delivery worker's BullMQ settings (src/webhooks/delivery/worker.ts): a killed worker's lock
// lapses within lockDuration, and the next stalled check (every stalledInterval) runs its job again.
const LOCK_DURATION_MS = 10_000;
const STALLED_INTERVAL_MS = 5_000;

// The fairness test queues its backlog itself, as the fan-out would, on this file's queue.
const flowRedis = createRedis(testConfig.REDIS_URL, 'command', `${queueName}:flow`);
const producerConnection = createRedis(testConfig.REDIS_URL, 'queue', `${queueName}:producer`);
const producerQueue = new Queue(queueName, { connection: producerConnection });

let platform: TestPlatform | undefined;
let api: { client: ApiClient; token: string } | undefined;
const workers: SpawnedProcess[] = [];
const receivers: CountingReceiver[] = [];
const subscriptions = new Set<string>();

beforeAll(async () => {
  const [started, ...delivery] = await Promise.all([
    startPlatform({ ADMIN_EMAIL, ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, WEBHOOK_QUEUE: queueName }),
    spawnProcess('delivery', deliveryEnv),
    spawnProcess('delivery', deliveryEnv),
  ]);
  platform = started;
  workers.push(...delivery);
  api = await adminSession(started.baseUrl, ADMIN_EMAIL);
}, 120_000);

afterAll(async () => {
  // Deleting a subscription deletes its deliveries and its flow-control keys in Redis.
  for (const id of subscriptions) await unsubscribe(id).catch(() => {});
  await Promise.all(workers.map((worker) => worker.terminate('SIGKILL')));
  await platform?.stop();
  await Promise.all(receivers.map((receiver) => receiver.close()));
  const connection = createRedis(testConfig.REDIS_URL, 'queue', `${queueName}:cleanup`);
  const queue = new Queue(queueName, { connection });
  await queue.obliterate({ force: true }).catch(() => {});
  await queue.close();
  connection.disconnect();
  await producerQueue.close();
  producerConnection.disconnect();
  await flowRedis.del(linesKey(queueName));
  flowRedis.disconnect();
}, 60_000);

interface CountingReceiver {
  url: string;
  port: number;
  /** How long each request is held before its answer (changeable while it runs). */
  holdMs: number;
  arrivals: { at: number; eventId: string }[];
  /** The event ids (webhook-id) that arrived. */
  seen: () => Set<string>;
  /** The requests open now: the client's port and the event. */
  open: () => { port: number; eventId: string }[];
  /** The most requests ever open at once. */
  maxOpen: () => number;
  close: () => Promise<void>;
}

/**
 * A real receiver that counts its open requests (arrived, not yet answered nor aborted) and the
 * most it ever had at once, records when each event arrived, and answers 200 after `holdMs`. A
 * request stops counting just before its answer is written, so the count never exceeds the
 * platform's attempts in flight (an attempt holds its slot until it has read the answer).
 */
async function startCountingReceiver(holdMs: number): Promise<CountingReceiver> {
  const open = new Map<http.ServerResponse, { port: number; eventId: string }>();
  const arrivals: { at: number; eventId: string }[] = [];
  let maxOpen = 0;
  const server = http.createServer((req, res) => {
    const eventId = String(req.headers['webhook-id']);
    open.set(res, { port: req.socket.remotePort ?? 0, eventId });
    maxOpen = Math.max(maxOpen, open.size);
    arrivals.push({ at: Date.now(), eventId });
    let timer: NodeJS.Timeout | undefined;
    res.on('close', () => {
      clearTimeout(timer);
      open.delete(res);
    });
    req.resume().on('end', () => {
      timer = setTimeout(() => {
        open.delete(res);
        res.writeHead(200).end();
      }, receiver.holdMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: CountingReceiver = {
    url: `http://127.0.0.1:${port}/hooks`,
    port,
    holdMs,
    arrivals,
    seen: () => new Set(arrivals.map((arrival) => arrival.eventId)),
    open: () => [...open.values()],
    maxOpen: () => maxOpen,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  receivers.push(receiver);
  return receiver;
}

/** A subscription with these limits (to test events only), deleted when the test ends. */
async function subscribe(url: string, limits: { max_in_flight: number; rate_limit_per_second?: number }) {
  if (!api) throw new Error('the platform is not running');
  const created = await api.client.call<{ id: string }>('POST', '/v1/webhooks/subscriptions', {
    token: api.token,
    body: { url, event_types: ['webhook.test'], description: 'flow-limits chaos test', ...limits },
  });
  expect(created.status).toBe(201);
  const { id } = created.body;
  subscriptions.add(id);
  onTestFinished(() => unsubscribe(id));
  return id;
}

/** Sends `count` test events to a subscription, ten requests at a time; returns their event ids. */
async function sendTestEvents(subscriptionId: string, count: number): Promise<string[]> {
  if (!api) throw new Error('the platform is not running');
  const { client, token } = api;
  const eventIds: string[] = [];
  while (eventIds.length < count) {
    const sent = await Promise.all(
      Array.from({ length: Math.min(10, count - eventIds.length) }, () =>
        client.call<{ event_id: string }>('POST', `/v1/webhooks/subscriptions/${subscriptionId}/test`, {
          token,
        }),
      ),
    );
    for (const answer of sent) {
      expect(answer.status).toBe(202);
      eventIds.push(answer.body.event_id);
    }
  }
  return eventIds;
}

async function unsubscribe(id: string): Promise<void> {
  const deleted = await api?.client.call('DELETE', `/v1/webhooks/subscriptions/${id}`, { token: api.token });
  if (deleted?.status === 204 || deleted?.status === 404) subscriptions.delete(id);
}

/** Attempts each delivery process has made so far (hookline_webhook_attempts_total). */
const attemptsByProcess = () =>
  Promise.all(
    workers.map(async (worker) => (await scrape(worker.baseUrl)).value('hookline_webhook_attempts_total')),
  );

/** The process (pid) behind each client port connected to `port` now, as `ss` shows it (Linux). */
async function pidsByClientPort(port: number): Promise<Map<number, number>> {
  const { stdout } = await promisify(execFile)('ss', [
    '-tnpH',
    'state',
    'established',
    `( dport = :${port} )`,
  ]);
  const pids = new Map<number, number>();
  for (const line of stdout.split('\n')) {
    const match = line.match(/:(\d+)\s+\S+:\d+\s+users:\(\("[^"]*",pid=(\d+)/);
    if (match) pids.set(Number(match[1]), Number(match[2]));
  }
  return pids;
}

/** The most arrivals within any closed window [t, t + windowMs]. */
function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let first = 0, last = 0; first < sorted.length; first++) {
    while (last < sorted.length && (sorted[last] ?? 0) <= (sorted[first] ?? 0) + windowMs) last++;
    most = Math.max(most, last - first);
  }
  return most;
}

const missingOf = (eventIds: string[], seen: Set<string>) => eventIds.filter((id) => !seen.has(id));

describe('per-subscription flow limits across two delivery processes', () => {
  it('max_in_flight 5 is reached but never exceeded at the receiver, while both processes deliver', async () => {
    const maxInFlight = 5;
    const receiver = await startCountingReceiver(50);
    const subscriptionId = await subscribe(receiver.url, { max_in_flight: maxInFlight });
    const before = await attemptsByProcess();

    const events = await sendTestEvents(subscriptionId, 100);
    await vi.waitFor(() => expect(missingOf(events, receiver.seen())).toEqual([]), {
      timeout: 30_000,
      interval: 100,
    });

    const after = await attemptsByProcess();
    const share = after.map((count, i) => count - (before[i] ?? 0));
    console.log(
      `max_in_flight ${maxInFlight}: at most ${receiver.maxOpen()} requests open at once at the receiver; attempts per delivery process: ${share.join(', ')}`,
    );
    expect(receiver.maxOpen()).toBeLessThanOrEqual(maxInFlight);
    // The backlog pressed on the limit (50 idle worker slots per process would have taken more).
    expect(receiver.maxOpen()).toBe(maxInFlight);
    // Both processes attempted deliveries meanwhile: the limit held across them, not within one.
    for (const attempts of share) expect(attempts).toBeGreaterThanOrEqual(10);
  }, 60_000);

  it('rate_limit_per_second 20 is never exceeded at the receiver beyond its one-second burst, and every event arrives', async () => {
    const rate = 20;
    const total = 120;
    const receiver = await startCountingReceiver(0);
    // A max_in_flight far above what the rate lets through: only the rate limit holds attempts back.
    const subscriptionId = await subscribe(receiver.url, { max_in_flight: 100, rate_limit_per_second: rate });
    const before = await attemptsByProcess();

    const events = await sendTestEvents(subscriptionId, total);
    await vi.waitFor(() => expect(missingOf(events, receiver.seen())).toEqual([]), {
      timeout: 30_000,
      interval: 100,
    });

    const after = await attemptsByProcess();
    const share = after.map((count, i) => count - (before[i] ?? 0));
    const times = receiver.arrivals.map((arrival) => arrival.at);
    const mostInOneSecond = maxInWindow(times, 1_000);
    const spanMs = Math.max(...times) - Math.min(...times);
    // The bound, from the GCRA in src/webhooks/flow/scripts.ts (interval I = 1000/rate ms, burst
    // b = ceil(rate)): every grant moves the theoretical arrival time on by I, and a grant is given
    // only while that time is at most (b - 1)·I ahead of it, so n grants are at least (n - b)·I
    // apart from first to last: any window of W ms holds at most floor(W/I) + b grants. A request
    // reaches the receiver a little after its grant (a reserved slot's wake-up, the HTTP call), and
    // that lag varies by at most JITTER_MS, so a one-second window at the receiver holds at most
    // floor((1000 + JITTER_MS)/I) + b arrivals: 25 + 20 = 45 here (40 with no jitter at all).
    const JITTER_MS = 250;
    const interval = 1_000 / rate;
    const burst = Math.ceil(rate);
    const bound = Math.floor((1_000 + JITTER_MS) / interval) + burst;
    console.log(
      `rate_limit_per_second ${rate}: at most ${mostInOneSecond} arrivals in any 1 s window (bound ${bound}), ${total} events over ${spanMs} ms; attempts per delivery process: ${share.join(', ')}`,
    );
    expect(mostInOneSecond).toBeLessThanOrEqual(bound);
    // The same rule over the whole run: the last arrival comes at least (total - b)·I after the first.
    expect(spanMs).toBeGreaterThanOrEqual((total - burst) * interval - JITTER_MS);
    for (const attempts of share) expect(attempts).toBeGreaterThanOrEqual(10);
  }, 60_000);

  it('a delivery process SIGKILLed at max_in_flight leaves the subscription at its limit again within the stalled-job bound, and every event is delivered', async () => {
    const maxInFlight = 10;
    const total = 60;
    // Each request is held 3 s (under the 4 s attempt timeout): the slots stay full long enough to
    // see who holds them.
    const receiver = await startCountingReceiver(3_000);
    const subscriptionId = await subscribe(receiver.url, { max_in_flight: maxInFlight });
    const events = await sendTestEvents(subscriptionId, total);
    await vi.waitFor(() => expect(receiver.open()).toHaveLength(maxInFlight), {
      timeout: 20_000,
      interval: 20,
    });

    // The process holding most of the open requests is killed; its slots leak in Redis.
    const pids = await pidsByClientPort(receiver.port);
    const openOn = (worker: SpawnedProcess) =>
      receiver.open().filter((request) => pids.get(request.port) === worker.child.pid);
    const victim = workers.reduce((most, worker) =>
      openOn(worker).length > openOn(most).length ? worker : most,
    );
    const leaked = openOn(victim);
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.terminate();
    // The receiver sees the killed process's connections close.
    await vi.waitFor(() => expect(openOn(victim)).toEqual([]), { timeout: 5_000, interval: 20 });

    // A killed job's slot comes back when its lease expires (timeout + 5 s = 9 s here): the
    // subscription's admission grows with its free slots, so the line's head is admitted in its stead
    // (by the next release or the pump) — or when BullMQ runs the killed job again (same job id): its
    // lock lapses within lockDuration of its last renewal and the next stalled check, at most
    // stalledInterval later, hands it to the live process. Measured: 9-15 s, up to 18 s with a
    // benchmark loading the machine and 19.5 s in a clean-clone run of the whole suite on 2 cores
    // (late timers); 20 s of slack still tells "taken back" from "stuck" (until the admission's 60 s
    // TTL, after which the pump admits the next in line).
    const bound = LOCK_DURATION_MS + STALLED_INTERVAL_MS + 20_000;
    await vi.waitFor(() => expect(receiver.open()).toHaveLength(maxInFlight), {
      timeout: bound + 10_000,
      interval: 50,
    });
    const reclaimMs = Date.now() - killedAt;
    console.log(
      `SIGKILL at max_in_flight ${maxInFlight}: ${leaked.length} slots leaked with the killed process; ${maxInFlight} requests open again ${reclaimMs} ms after the kill (bound ${bound} ms)`,
    );
    expect(leaked.length).toBeGreaterThanOrEqual(maxInFlight / 2);
    expect(reclaimMs).toBeLessThanOrEqual(bound);

    // The rest of the backlog quickly: answers at once from now on.
    receiver.holdMs = 0;
    if (!platform) throw new Error('the platform is not running');
    const { sql } = platform.running.deps;
    await vi.waitFor(
      async () => {
        const [row] = await sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM webhook_deliveries
          WHERE subscription_id = ${subscriptionId} AND status = 'succeeded'`;
        expect(row?.n).toBe(total);
      },
      { timeout: 30_000, interval: 250 },
    );
    expect(missingOf(events, receiver.seen())).toEqual([]);
    expect(receiver.maxOpen()).toBeLessThanOrEqual(maxInFlight);
    // Every killed job was sent again (its request had never been answered).
    const killedEvents = new Set(leaked.map((request) => request.eventId));
    const resent = receiver.arrivals.filter(
      (arrival) => arrival.at > killedAt && killedEvents.has(arrival.eventId),
    );
    expect(new Set(resent.map((arrival) => arrival.eventId))).toEqual(killedEvents);
    const resentAfter = resent.map((arrival) => arrival.at - killedAt);
    console.log(
      `SIGKILL: the killed jobs sent again ${Math.min(...resentAfter)}–${Math.max(...resentAfter)} ms after the kill`,
    );
  }, 90_000);
});

describe('fairness between subscriptions', () => {
  it("a subscription with 50,000 queued deliveries delays another subscription's deliveries by under 1 s at p99, and every delivery of both arrives", async () => {
    if (!platform) throw new Error('the platform is not running');
    const { sql } = platform.running.deps;
    const backlog = 50_000;
    const busy = await startCountingReceiver(0);
    const quiet = await startCountingReceiver(0);
    // The busy subscription may use every worker slot of both processes: the hardest case, where
    // only the admission window keeps its backlog from standing in front of the quiet one.
    const busyId = await subscribe(busy.url, { max_in_flight: 100 });
    const quietId = await subscribe(quiet.url, { max_in_flight: 20 });
    onTestFinished(async () => {
      await sql`DELETE FROM webhook_events WHERE type = 'webhook.test'
        AND payload->'data'->>'subscription_id' = ANY(${[busyId, quietId]}::text[])`;
    });

    // The quiet subscription's latency (from sending its test event to its arrival), alone, then
    // while the busy one's backlog drains: 100 events at 10/s each time. With 100, the 99th
    // percentile is the second slowest; with the 40 this test sent before, it was the slowest, so the
    // test asserted the maximum, not the p99 it names (one event late by a stall failed it).
    const latencies = async () => {
      const sentAt = new Map<string, number>();
      for (let i = 0; i < 10; i++) {
        const at = Date.now();
        for (const id of await sendTestEvents(quietId, 10)) sentAt.set(id, at);
        // A fixed wait, pacing the load: 10 events each second (a rate, not a wait for some state).
        await sleep(1_000 - (Date.now() - at));
      }
      const ids = [...sentAt.keys()];
      await vi.waitFor(() => expect(missingOf(ids, quiet.seen())).toEqual([]), {
        timeout: 60_000,
        interval: 50,
      });
      const arrivedAt = new Map(quiet.arrivals.map((arrival) => [arrival.eventId, arrival.at]));
      return ids.map((id) => (arrivedAt.get(id) ?? 0) - (sentAt.get(id) ?? 0)).sort((a, b) => a - b);
    };
    const p99 = (sorted: number[]) => sorted[Math.ceil(sorted.length * 0.99) - 1] ?? Number.NaN;
    // Measured once the stack is quiet (as the isolation test is): a clean-clone run failed here with
    // the backlog draining at a third of its usual pace (3,067 delivered during the measurement, 9,000
    // to 15,000 in other runs) and one batch of the quiet events 5.3 s late: the whole stack was slow
    // then (earlier files leave it vacuums of the rows they deleted), which says nothing of fairness.
    console.log(`fairness: the stack quiet after ${await settle()} s`);
    // A first round unmeasured: the quiet subscription's first events meet cold caches and connections
    // (a run of this test alone measured 2.5 s "alone" without it, which only widened the bound).
    const warm = await sendTestEvents(quietId, 10);
    await vi.waitFor(() => expect(missingOf(warm, quiet.seen())).toEqual([]), {
      timeout: 30_000,
      interval: 50,
    });
    const alone = await latencies();

    // The backlog: 50,000 deliveries of stored events, queued as the fan-out queues them.
    const event = buildSystemEvent('webhook.test', { subscription_id: busyId, message: 'backlog' });
    const rows = await sql<{ id: string }[]>`
      WITH events AS (
        INSERT INTO webhook_events (id, type, occurred_at, payload)
        SELECT id, 'webhook.test', now(), jsonb_set(${sql.json(event as never)}::jsonb, '{id}', to_jsonb(id::text))
        FROM (SELECT webhook_uuidv7(now()) AS id FROM generate_series(1, ${backlog})) AS ids
        RETURNING id, occurred_at)
      INSERT INTO webhook_deliveries (id, event_id, subscription_id, event_type, event_occurred_at)
      SELECT webhook_delivery_id(id, ${busyId}), id, ${busyId}, 'webhook.test', occurred_at FROM events
      RETURNING id`;
    const flow = new FlowControl(flowRedis, {
      breaker: { failureThreshold: 5, cooldownMs: 10_000, maxCooldownMs: 60_000 },
      leaseMs: WEBHOOK_TIMEOUT_MS + 5_000,
      queueName,
    });
    const queued = Date.now();
    for (let start = 0; start < rows.length; start += 5_000) {
      await enqueueDeliveries(
        { queue: producerQueue, flow, retries: 8 },
        rows.slice(start, start + 5_000).map((row) => ({
          deliveryId: row.id,
          generation: 0,
          subscriptionId: busyId,
          maxInFlight: 100,
        })),
      );
    }
    const queueMs = Date.now() - queued;
    await vi.waitFor(() => expect(busy.arrivals.length).toBeGreaterThan(1_000), { timeout: 30_000 });

    const withBacklog = await latencies();
    const busyArrivedMeanwhile = busy.arrivals.length;
    console.log(
      `fairness: ${backlog} deliveries queued for one subscription in ${queueMs} ms; the other's latency p99 ${p99(alone)} ms alone (max ${Math.max(...alone)}), ${p99(withBacklog)} ms while the backlog drains (max ${Math.max(...withBacklog)}); ${busyArrivedMeanwhile} of the backlog had arrived when the other's last event did`,
    );
    // Measured during the backlog, not after it.
    expect(busyArrivedMeanwhile).toBeLessThan(backlog - 10_000);
    expect(p99(withBacklog)).toBeLessThanOrEqual(p99(alone) + 1_000);

    // Nothing of the backlog is lost: every one arrives.
    await vi.waitFor(() => expect(busy.seen().size).toBe(backlog), { timeout: 150_000, interval: 500 });
  }, 240_000);
});
