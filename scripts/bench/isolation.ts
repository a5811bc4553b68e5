// Isolation: the healthy endpoint at a steady rate alone, then the same again alongside three bad
// neighbours subscribed to the same event type (each on an origin of its own, as separate hosts would
// be): one that accepts the connection and never answers, one that answers after 2 s, one that always
// answers 500. The healthy endpoint's end-to-end p99 with them over its p99 alone is the figure (target
// ≤ 1.5). The neighbours keep their default max_in_flight and the process's default timeouts; their
// deliveries still pending when the phase ends are left to the bench's clean-up.
// BENCH_NEIGHBOURS (default `hang,slow,fail`) lists the neighbours' behaviours (see bench-receiver.ts):
// `ok,ok,ok` is the control, the same fan-out (four deliveries per event) with no bad receiver.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from '../../src/db/client.js';
import { notifySubscriptionsChanged } from '../../src/webhooks/subscription-index.js';
import type { Children, cpuMeter } from './children.js';
import type { Load } from './load.js';
import { isReceiverReady, portsOf, type Stats, statsOf, waitFor } from './receiver.js';
import type { BenchResources } from './resources.js';

export interface IsolationContext {
  children: Children;
  resources: BenchResources;
  sql: Sql;
  load: Load;
  cpu: ReturnType<typeof cpuMeter>;
  /** The healthy endpoint: the bench's receiver, already subscribed. */
  receiverPort: number;
  /** The bench run's id: its receivers count only its events. */
  run: string;
  rate: number;
  seconds: number;
  say: (text: string) => void;
}

const neighbours = (process.env.BENCH_NEIGHBOURS ?? 'hang,slow,fail').split(',').map((b) => b.trim());

export async function isolationPhase(ctx: IsolationContext) {
  const { children, resources, sql, load, cpu, receiverPort, run, rate, seconds, say } = ctx;
  const total = rate * seconds;
  const measure = async () => {
    await statsOf(receiverPort, true);
    const before = cpu.snapshot();
    await load.paced(rate, seconds);
    // Bounded: a healthy endpoint that has not had everything a minute after the load is reported so.
    const stats = await waitFor(receiverPort, total, 60_000);
    return { stats, cpu: cpu.since(before) };
  };
  const figures = ({ stats, cpu: cpuSeconds }: { stats: Stats; cpu: Record<string, number> }) => ({
    delivered: stats.distinct,
    duplicates: stats.duplicates,
    foreign: stats.foreign,
    p50_ms: stats.p50,
    p95_ms: stats.p95,
    max_ms: stats.max,
    cpu_seconds: cpuSeconds,
  });

  // Drain what an earlier phase may still deliver (the API's own profile updates) before counting.
  await sleep(2_000);
  say(`isolation: the healthy endpoint alone, ${rate} events/s for ${seconds} s`);
  const alone = await measure();
  say(
    `alone: ${alone.stats.distinct}/${total} delivered; p50 ${alone.stats.p50} ms, p99 ${alone.stats.p99} ms`,
  );

  const started = await children.start(
    ['scripts/bench-receiver.ts'],
    { BENCH_RECEIVER_BEHAVIOURS: neighbours.join(','), BENCH_RUN: run },
    isReceiverReady,
  );
  const ports = portsOf(started.line).ports;
  const ids: string[] = [];
  for (const [i, behaviour] of neighbours.entries()) {
    ids.push(
      await resources.subscribe({
        url: `http://127.0.0.1:${ports[i]}/hooks`,
        description: `npm run bench: neighbour (${behaviour})`,
      }),
    );
  }
  await notifySubscriptionsChanged(sql);
  // One event, until every neighbour has had it: fan-out has reloaded its subscriptions.
  await load.produce(1);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const seen = await Promise.all(ports.map(async (port) => (await statsOf(port)).received));
    if (seen.every((n) => n > 0)) break;
    await sleep(100);
  }
  await Promise.all(ports.map((port) => statsOf(port, true)));

  say(`isolation: the same, alongside neighbours ${neighbours.join(', ')}`);
  const withBad = await measure();
  const ratio = alone.stats.p99 > 0 ? Number((withBad.stats.p99 / alone.stats.p99).toFixed(2)) : null;
  const others = await Promise.all(
    neighbours.map(async (behaviour, i) => ({
      behaviour,
      requests_received: (await statsOf(ports[i] ?? 0)).received,
      breaker: (await resources.flow.circuit(ids[i] ?? '')).state,
    })),
  );
  say(
    `with neighbours: ${withBad.stats.distinct}/${total} delivered; p50 ${withBad.stats.p50} ms, p99 ${withBad.stats.p99} ms; ratio to alone ${ratio} (target ≤ 1.5); neighbours ${JSON.stringify(others)}`,
  );
  return {
    p99_alone_ms: alone.stats.p99,
    p99_with_bad_ms: withBad.stats.p99,
    ratio,
    rate_per_second: rate,
    seconds,
    healthy: { events: total, alone: figures(alone), with_bad: figures(withBad) },
    neighbours: others,
  };
}
