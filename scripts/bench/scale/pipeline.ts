// The scale bench's pipeline, as `npm run bench` runs it but on the bench's own database: the receiver,
// one bench subscription, a fan-out and a delivery process (their DATABASE_URL the scratch database),
// and the sustained-throughput phase of scripts/bench/pipeline.ts, run once on the empty database and
// once on the filled one.
import type { Config } from '../../../src/config/load.js';
import type { Sql } from '../../../src/db/client.js';
import { notifySubscriptionsChanged } from '../../../src/webhooks/subscriptions/subscription-index.js';
import { type Children, cpuMeter, cpuSeconds, usedBy } from '../children.js';
import type { Load } from '../load.js';
import { throughputPhase } from '../pipeline.js';
import { isReceiverReady, portsOf, statsOf, waitFor } from '../receiver.js';
import type { BenchResources } from '../resources.js';

// More than `npm run bench`'s 500: the first phase meets processes just started, and the ratio of the
// two phases must not reward the second for coming second.
const WARM_UP_EVENTS = Number(process.env.BENCH_SCALE_WARMUP ?? 2_000);

export interface PipelineDeps {
  children: Children;
  resources: BenchResources;
  /** The scratch database's pool. */
  sql: Sql;
  config: Config;
  load: Load;
  run: string;
  /** The environment of the platform's processes (DATABASE_URL, queue, consumer group, ...). */
  env: Record<string, string>;
  say: (text: string) => void;
}

/** Starts the receiver, subscribes to it, starts the fan-out and delivery processes. */
export async function startPipeline(deps: PipelineDeps) {
  const { children, resources, sql, config, env, say } = deps;
  const started = await children.start(
    ['scripts/bench-receiver.ts'],
    { BENCH_RUN: deps.run },
    isReceiverReady,
  );
  const receiver = started.child;
  const receiverPort = portsOf(started.line).port;
  const subscriptionId = await resources.subscribe({
    url: `http://127.0.0.1:${receiverPort}/hooks`,
    description: 'npm run bench:scale',
    maxInFlight: Number(process.env.BENCH_MAX_IN_FLIGHT ?? config.DELIVERY_CONCURRENCY),
  });
  await notifySubscriptionsChanged(sql);
  const isReady = (line: string) => line.includes('"process ready"');
  const portOf = (line: string) => (JSON.parse(line) as { port: number }).port;
  const fanout = await children.start(['workers/fanout.ts'], env, isReady);
  const delivery = await children.start(['workers/delivery.ts'], env, isReady);
  const cpu = cpuMeter({
    fanout: () => cpuSeconds(fanout.child.pid),
    delivery: () => cpuSeconds(delivery.child.pid),
    receiver: () => cpuSeconds(receiver.pid),
    postgres: usedBy('postgres'),
  });
  const context = {
    load: deps.load,
    receiverPort,
    deliveryMetrics: `http://127.0.0.1:${portOf(delivery.line)}/metrics`,
    cpu,
    say,
  };
  /** A warm-up, then `events` events as fast as they go: deliveries per second. */
  const throughput = async (events: number) => {
    say(`warming up (${WARM_UP_EVENTS} events)`);
    await deps.load.produce(WARM_UP_EVENTS);
    const warm = await waitFor(receiverPort, WARM_UP_EVENTS, 60_000);
    if (warm.distinct < WARM_UP_EVENTS)
      throw new Error(`warm-up: ${warm.distinct} of ${WARM_UP_EVENTS} delivered`);
    await statsOf(receiverPort, true);
    say(`throughput: ${events} events as fast as they go`);
    const measured = await throughputPhase(context, events);
    if (measured.figures.delivered < events) {
      throw new Error(`throughput: ${measured.figures.delivered} of ${events} delivered in time`);
    }
    return measured;
  };
  return { subscriptionId, throughput };
}
