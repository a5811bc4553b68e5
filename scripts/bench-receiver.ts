// The benchmark's webhook receivers (a separate process): each records, per delivery, the end-to-end
// latency from the event's occurred_at to its arrival, and GET /stats reports. What a receiver answers
// is its behaviour, one server (port) per behaviour listed in BENCH_RECEIVER_BEHAVIOURS (default `ok`):
//   ok    200 at once (the healthy endpoint)
//   hang  accepts the connection and the request, and never answers
//   slow  200 after BENCH_RECEIVER_SLOW_MS (default 2,000 ms)
//   fail  500 at once
// Prints {"port": <the first server's port>, "ports": [<the port of each, in the list's order>]} once all
// listen (a behaviour may be listed more than once).
// With BENCH_RUN set, only the events of that bench run (their `data.changes.name.new`) count: the
// ports are ephemeral, and a delivery meant for a process that held one before (another test's
// receiver, its parked jobs coming back minutes later) is answered 200 and counted as `foreign` only.
import { percentilesOf } from './lib/histogram.js';
import { type Answer, listen, type ReceivedRequest } from './lib/receiver.js';

type Behaviour = 'ok' | 'hang' | 'slow' | 'fail';
const behaviours = (process.env.BENCH_RECEIVER_BEHAVIOURS ?? 'ok').split(',').map((b) => b.trim());
const slowMs = Number(process.env.BENCH_RECEIVER_SLOW_MS ?? 2_000);
const run = process.env.BENCH_RUN;
const answers: Record<Behaviour, Answer> = {
  ok: { status: 200 },
  fail: { status: 500 },
  slow: { status: 200, delayMs: slowMs },
  // unanswered until the client gives up (or this process ends)
  hang: { never: true },
};

/** The event's time, or undefined when the delivery is not one of this bench run's. */
function timestampOf(body: string): number | undefined {
  try {
    const event = JSON.parse(body) as {
      timestamp?: string;
      data?: { changes?: { name?: { new?: unknown } } };
    };
    if (run !== undefined && event.data?.changes?.name?.new !== run) return undefined;
    return Date.parse(String(event.timestamp));
  } catch {
    return undefined;
  }
}

/** What one receiver counts: each of this run's deliveries, and GET /stats to report them. */
function figures(behaviour: Behaviour) {
  const latencies: number[] = [];
  const arrivals: number[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  let foreign = 0;

  const stats = (request: ReceivedRequest): Answer => {
    const query = new URL(request.path, 'http://receiver').searchParams;
    const { p50, p95, p99, max } = percentilesOf(latencies);
    const body = JSON.stringify({
      received: latencies.length,
      distinct: seen.size,
      duplicates,
      foreign,
      first_at: arrivals[0] ?? null,
      last_at: arrivals.at(-1) ?? null,
      p50,
      p95,
      p99,
      max,
      // The slowest arrival of each second since the first (where the tail comes from).
      max_by_second: maxBySecond(arrivals, latencies),
      // Every latency, with ?raw=1 (to pool several measurements).
      latencies: query.get('raw') === '1' ? latencies : undefined,
      // And when each arrived (ms since the epoch), in the same order.
      arrivals: query.get('raw') === '1' ? arrivals : undefined,
    });
    if (query.get('reset') === '1') {
      latencies.length = 0;
      arrivals.length = 0;
      seen.clear();
      duplicates = 0;
      foreign = 0;
    }
    return { status: 200, headers: { 'content-type': 'application/json' }, body };
  };

  return (request: ReceivedRequest): Answer => {
    if (request.method === 'GET') return stats(request);
    const timestamp = timestampOf(request.body);
    if (timestamp === undefined) {
      foreign += 1;
      return { status: 200 };
    }
    const id = String(request.headers['webhook-id']);
    if (seen.has(id)) duplicates += 1;
    seen.add(id);
    latencies.push(request.at - timestamp);
    arrivals.push(request.at);
    return answers[behaviour];
  };
}

function maxBySecond(arrivals: number[], latencies: number[]): number[] {
  const first = arrivals[0] ?? 0;
  const out: number[] = [];
  for (const [i, at] of arrivals.entries()) {
    const second = Math.floor((at - first) / 1_000);
    out[second] = Math.max(out[second] ?? 0, latencies[i] ?? 0);
  }
  return Array.from(out, (value) => value ?? 0);
}

const ports: number[] = [];
for (const behaviour of behaviours) {
  if (!(behaviour in answers)) throw new Error(`unknown behaviour ${behaviour}`);
  const receiver = await listen(figures(behaviour as Behaviour), {
    port: behaviours.length === 1 ? Number(process.env.PORT ?? 0) : 0,
    keepRequests: false,
    keepAliveTimeoutMs: 60_000,
  });
  ports.push(receiver.port);
}
console.log(JSON.stringify({ port: ports[0], ports }));
