// Isolation: the healthy endpoint at a steady rate alone, and alongside three bad neighbours subscribed
// to the same event type (each on an origin of its own, as separate hosts would be): one that accepts
// the connection and never answers, one that answers after 2 s, one that always answers 500. The
// healthy endpoint's end-to-end p99 with them over its p99 alone is the figure (target ≤ 1.5).
//
// On a shared, noisy machine one measurement of each, one after the other, differs by ±30 % from run to
// run on its own, so the two are measured in alternating rounds (alone, with, alone, with, …) and each
// p99 is taken over all of its rounds' deliveries: drift weighs on both alike. The first round alone
// comes before the neighbours exist; in the later ones they are subscribed to another event type that
// nobody produces, so they get none of the events (what they still have, they keep working through).
// Each round follows WARM_SECONDS of the same load, delivered and not counted, so both are measured in
// steady state, not in the seconds after a pause or after a subscription change.
//
// The neighbours keep their default max_in_flight and the process's default breaker; their deliveries
// still pending at the end are left to the caller's clean-up. BENCH_NEIGHBOURS (default
// `hang,slow,fail`) lists their behaviours (see bench-receiver.ts): `ok,ok,ok` is the control, the same
// fan-out (four deliveries per event) with no bad receiver.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from '../../src/db/client.js';
import { notifySubscriptionsChanged } from '../../src/webhooks/subscription-index.js';
import type { Children, cpuMeter } from './children.js';
import type { Load } from './load.js';
import { isReceiverReady, portsOf, quantile, statsOf, waitFor } from './receiver.js';
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
  /** Measured seconds of each kind, split into `rounds` rounds. */
  seconds: number;
  rounds?: number;
  say: (text: string) => void;
}

const WARM_SECONDS = Number(process.env.BENCH_ISOLATION_WARM_SECONDS ?? 2);
const neighbours = (process.env.BENCH_NEIGHBOURS ?? 'hang,slow,fail').split(',').map((b) => b.trim());
/** The neighbours' subscription while a round is measured alone: a type nothing produces here. */
const IDLE_TYPE = 'user.role.changed';

interface Measured {
  latencies: number[];
  delivered: number;
  duplicates: number;
  foreign: number;
  cpu: Record<string, number>;
}

export async function isolationPhase(ctx: IsolationContext) {
  const { children, resources, sql, load, cpu, receiverPort, run, rate, say } = ctx;
  const rounds = Math.max(1, ctx.rounds ?? Number(process.env.BENCH_ISOLATION_ROUNDS ?? 3));
  const roundSeconds = Math.max(1, Math.round(ctx.seconds / rounds));
  const perRound = rate * roundSeconds;
  const measured = { alone: empty(), with_bad: empty() };

  const round = async (into: Measured) => {
    await statsOf(receiverPort, true);
    await load.paced(rate, WARM_SECONDS);
    await waitFor(receiverPort, rate * WARM_SECONDS, 60_000);
    await statsOf(receiverPort, true);
    const before = cpu.snapshot();
    await load.paced(rate, roundSeconds);
    // Bounded: a healthy endpoint that has not had everything a minute after the load is reported so.
    await waitFor(receiverPort, perRound, 60_000);
    const stats = await statsOf(receiverPort, true, true);
    into.latencies.push(...(stats.latencies ?? []));
    into.delivered += stats.distinct;
    into.duplicates += stats.duplicates;
    into.foreign += stats.foreign;
    for (const [name, used] of Object.entries(cpu.since(before))) {
      into.cpu[name] = Number(((into.cpu[name] ?? 0) + used).toFixed(2));
    }
  };

  // Drain what an earlier phase may still deliver (the API's own profile updates) before counting.
  await sleep(2_000);
  say(
    `isolation: the healthy endpoint at ${rate} events/s, ${rounds} rounds of ${roundSeconds} s alone and ${rounds} alongside neighbours ${neighbours.join(', ')}, alternating`,
  );
  await round(measured.alone);

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
  await until(async () =>
    (await Promise.all(ports.map((port) => statsOf(port)))).every((s) => s.received > 0),
  );

  const subscribeNeighbours = async (type: string) => {
    await sql`UPDATE webhook_subscriptions SET event_types = ${[type]}, updated_at = now()
      WHERE id = ANY(${ids}::uuid[])`;
    await notifySubscriptionsChanged(sql);
  };
  // alone (above), with; then alone, with, … until each kind has had its rounds.
  for (let i = 0; i < rounds; i++) {
    if (i > 0) {
      await subscribeNeighbours(IDLE_TYPE);
      await round(measured.alone);
      await subscribeNeighbours('user.profile.updated');
    }
    await round(measured.with_bad);
  }

  const summary = (m: Measured) => {
    const sorted = [...m.latencies].sort((a, b) => a - b);
    return {
      delivered: m.delivered,
      duplicates: m.duplicates,
      foreign: m.foreign,
      p50_ms: quantile(sorted, 0.5),
      p95_ms: quantile(sorted, 0.95),
      p99_ms: quantile(sorted, 0.99),
      max_ms: sorted.at(-1) ?? 0,
      cpu_seconds: m.cpu,
    };
  };
  const alone = summary(measured.alone);
  const withBad = summary(measured.with_bad);
  const ratio = alone.p99_ms > 0 ? Number((withBad.p99_ms / alone.p99_ms).toFixed(2)) : null;
  const others = await Promise.all(
    neighbours.map(async (behaviour, i) => ({
      behaviour,
      requests_received: (await statsOf(ports[i] ?? 0)).received,
      breaker: (await resources.flow.circuit(ids[i] ?? '')).state,
    })),
  );
  const total = perRound * rounds;
  say(
    `alone: ${alone.delivered}/${total} delivered; p50 ${alone.p50_ms} ms, p99 ${alone.p99_ms} ms. With neighbours: ${withBad.delivered}/${total} delivered; p50 ${withBad.p50_ms} ms, p99 ${withBad.p99_ms} ms; ratio ${ratio} (target ≤ 1.5); neighbours ${JSON.stringify(others)}`,
  );
  return {
    p99_alone_ms: alone.p99_ms,
    p99_with_bad_ms: withBad.p99_ms,
    ratio,
    rate_per_second: rate,
    rounds,
    seconds_per_round: roundSeconds,
    healthy: { events: total, alone, with_bad: withBad },
    neighbours: others,
    neighbour_ids: ids,
  };
}

function empty(): Measured {
  return { latencies: [], delivered: 0, duplicates: 0, foreign: 0, cpu: {} };
}

async function until(done: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !(await done())) await sleep(100);
}
