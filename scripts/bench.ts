// `npm run bench`: drives the real webhook pipeline on the local stack and reports figures.
// Events are produced into Kafka; a fan-out process and a delivery process (each as `npm run
// start:fanout` / `start:delivery` would run them) turn them into signed POSTs to a local receiver
// process answering 200. Phases (each a module of scripts/bench/): sustained throughput (as fast as it
// goes), then end-to-end latency at 1,000 deliveries/s, while the two processes' /metrics are scraped
// every 250 ms; ceilings (BullMQ alone, raw signed POSTs: scripts/bench/ceilings.ts) to read them
// against; the API under mixed traffic, its /metrics scraped likewise; the audit worker storing the
// throughput phase's number of events in ClickHouse; CPU seconds per 1,000 units of work of every role
// (the capacity model's figures, docs/capacity.md); and isolation: the healthy
// receiver at 1,000/s alone, then alongside three bad neighbours. Writes .bench/latest.json. Whatever
// happens, everything it created is removed at the end (scripts/bench/resources.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { loadConfig } from '../src/config/load.js';
import { createDatabase } from '../src/db/client.js';
import { allTopics } from '../src/events/topics.js';
import { createKafka } from '../src/kafka/client.js';
import { startGroupAtEnd } from '../src/kafka/topics.js';
import { createLogger } from '../src/logger.js';
import { notifySubscriptionsChanged } from '../src/webhooks/subscriptions/subscription-index.js';
import { apiPhase } from './bench/api.js';
import { auditPhase } from './bench/audit.js';
import { bullmqCeiling, httpCeiling, jobAndPostBound } from './bench/ceilings.js';
import { Children, cpuMeter, cpuSeconds, stackProcesses } from './bench/children.js';
import { isolationPhase } from './bench/isolation.js';
import { runBench } from './bench/lifecycle.js';
import { loadOf } from './bench/load.js';
import { latencyPhase, throughputPhase } from './bench/pipeline.js';
import { isReceiverReady, portsOf, statsOf, waitFor } from './bench/receiver.js';
import { BenchResources } from './bench/resources.js';
import { SCRAPE_EVERY_MS, Scraper, withRest } from './bench/scraper.js';

const THROUGHPUT_EVENTS = Number(process.env.BENCH_EVENTS ?? 30_000);
const LATENCY_RATE = Number(process.env.BENCH_RATE ?? 1_000);
const LATENCY_SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const API_SECONDS = Number(process.env.BENCH_API_SECONDS ?? 10);
const ISOLATION_SECONDS = Number(process.env.BENCH_ISOLATION_SECONDS ?? 15);
const ISOLATION_RATE = Number(process.env.BENCH_ISOLATION_RATE ?? LATENCY_RATE);

const config = loadConfig('all', process.env);
const logger = createLogger({ level: 'error', process: 'bench' });
const run = `${Date.now().toString(36)}`;
const groupId = `hookline-bench-${run}`;
const queueName = `hookline-bench-${run}`;
const say = (text: string) => console.log(`\x1b[1m[bench]\x1b[0m ${text}`);

const { sql, end } = createDatabase({
  url: config.DATABASE_URL,
  poolSize: 2,
  applicationName: 'hookline-bench',
});
const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'hookline-bench', logger });
const admin = kafka.admin();
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
const children = new Children();
const resources = new BenchResources({ sql, admin, config, queueName, groupId });
const load = loadOf(producer, run);

async function main() {
  await admin.connect();
  await producer.connect();
  // A consumer group of its own, starting at the end of each topic: only this run's events count.
  await startGroupAtEnd(kafka, groupId, allTopics);

  const started0 = await children.start(['scripts/bench-receiver.ts'], { BENCH_RUN: run }, isReceiverReady);
  const receiver = started0.child;
  const receiverPort = portsOf(started0.line).port;

  // max_in_flight as wide as the delivery process's concurrency (DELIVERY_CONCURRENCY, which the
  // child inherits): the only limit on one subscription's attempts at once before flow control
  // existed. It also bounds the subscription's jobs in the shared queue, which caps one subscription's
  // rate in the throughput phase; BENCH_MAX_IN_FLIGHT (e.g. 100000) sets a limit that never binds, to
  // measure the flow-control machinery alone against the commit before it.
  await resources.subscribe({
    url: `http://127.0.0.1:${receiverPort}/hooks`,
    description: 'npm run bench',
    maxInFlight: Number(process.env.BENCH_MAX_IN_FLIGHT ?? config.DELIVERY_CONCURRENCY),
  });
  await notifySubscriptionsChanged(sql);
  const others = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM webhook_subscriptions
    WHERE enabled AND NOT (id = ANY(${resources.subscriptionIds}::uuid[]))
      AND (event_types && ARRAY['*', 'user.*', 'user.profile.updated'])`;

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
  const fanoutStarted = await children.start(['workers/fanout.ts'], env, isReady);
  const deliveryStarted = await children.start(['workers/delivery.ts'], env, isReady);
  const fanout = fanoutStarted.child;
  const delivery = deliveryStarted.child;
  const deliveryMetrics = `http://127.0.0.1:${portOf(deliveryStarted.line)}/metrics`;
  const scraper = new Scraper({
    fanout: `http://127.0.0.1:${portOf(fanoutStarted.line)}/metrics`,
    delivery: deliveryMetrics,
  });
  const cpu = cpuMeter({
    fanout: () => cpuSeconds(fanout.pid),
    delivery: () => cpuSeconds(delivery.pid),
    receiver: () => cpuSeconds(receiver.pid),
    ...stackProcesses,
  });
  const pipeline = { load, receiverPort, deliveryMetrics, cpu, say };

  say(
    `warming up (500 events)${others[0]?.n ? `; note: ${others[0].n} other enabled subscriptions also match these events` : ''}`,
  );
  await load.produce(500);
  await waitFor(receiverPort, 500, 60_000);
  await statsOf(receiverPort, true);

  say(
    `throughput: ${THROUGHPUT_EVENTS} events as fast as they go (scraping /metrics every ${SCRAPE_EVERY_MS} ms)`,
  );
  const scraping = scraper.run();
  const throughput = await throughputPhase(pipeline, THROUGHPUT_EVENTS);
  say(`latency: ${LATENCY_RATE} events/s for ${LATENCY_SECONDS} s`);
  const latency = await latencyPhase(pipeline, LATENCY_RATE, LATENCY_SECONDS);
  const scrapes = withRest(await scraper.stop(scraping), await scraper.atRest(50));

  say(`ceilings: BullMQ alone (${THROUGHPUT_EVENTS} no-op jobs), then raw signed POSTs to the same receiver`);
  const ceilings = await ceilingsOf(throughput.deliveriesPerSecond, {
    port: receiverPort,
    pid: receiver.pid,
  });

  const api = await apiPhase({ children, env, run, seconds: API_SECONDS, say });
  Object.assign(scrapes, api.scrapes);
  const audit = await auditPhase({
    children,
    kafka,
    load,
    env,
    clickhouseUrl: config.CLICKHOUSE_URL,
    groupId: `${groupId}-audit`,
    run,
    events: THROUGHPUT_EVENTS,
    say,
  });
  for (const [name, figures] of Object.entries(scrapes)) {
    say(
      `/metrics of ${name} under load: ${figures.series} series; rendering ${figures.render_mean_ms} ms on average (${figures.render_cpu_mean_ms} ms of CPU; ${figures.render_at_rest_ms} ms at rest), ${(figures.render_within_5ms * 100).toFixed(1)} % within 5 ms; round trip p50 ${figures.p50_ms} ms, p99 ${figures.p99_ms} ms (${figures.scrapes} scrapes)`,
    );
  }

  // Last: the bad neighbours' deliveries left pending must not weigh on another phase.
  const isolation = await isolationPhase({
    children,
    resources,
    sql,
    load,
    cpu,
    receiverPort,
    run,
    rate: ISOLATION_RATE,
    seconds: ISOLATION_SECONDS,
    say,
  });

  const result = {
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    deliveries_per_second: throughput.deliveriesPerSecond,
    throughput: throughput.figures,
    e2e_latency_ms: latency.e2e,
    latency: latency.figures,
    ceilings,
    isolation,
    api: {
      requests_per_second: api.requestsPerSecond,
      by_status: api.byStatus,
      requests: api.requests,
      events_published: api.events_published,
      cpu_seconds: api.cpu_seconds,
    },
    audit,
    capacity: capacityOf(throughput.figures, api, audit),
    metrics_scrape: scrapes,
    targets: {
      deliveries_per_second: 3_000,
      p99_ms_at_1000_per_second: 100,
      scrape_ms: 5,
      isolation_ratio: 1.5,
      pipeline_to_bullmq: 0.8,
    },
  };
  mkdirSync('.bench', { recursive: true });
  writeFileSync('.bench/latest.json', `${JSON.stringify(result, null, 2)}\n`);
  say('wrote .bench/latest.json');
  console.log(JSON.stringify(result, null, 2));
}

/**
 * CPU seconds per 1,000 of each role's unit of work, as this run measured them (docs/capacity.md):
 * deliveries for the pipeline's processes and services (the throughput phase), requests for the API
 * and events published for the relay (the API phase), events stored for the audit worker and
 * ClickHouse (the audit phase).
 */
function capacityOf(
  throughput: { delivered: number; cpu_seconds: Record<string, number> },
  api: { requests: number; events_published: number; cpu_seconds: { api: number; relay: number } },
  audit: { stored: number; cpu_seconds: { audit: number; clickhouse: number } },
) {
  const per1000 = (cpu: number, units: number) =>
    units > 0 ? Number(((cpu * 1_000) / units).toFixed(3)) : null;
  const perDelivery = Object.fromEntries(
    Object.entries(throughput.cpu_seconds).map(([role, cpu]) => [role, per1000(cpu, throughput.delivered)]),
  );
  return {
    cpu_seconds_per_1000_deliveries: perDelivery,
    cpu_seconds_per_1000_requests: { api: per1000(api.cpu_seconds.api, api.requests) },
    cpu_seconds_per_1000_events_published: { relay: per1000(api.cpu_seconds.relay, api.events_published) },
    cpu_seconds_per_1000_events_stored: {
      audit: per1000(audit.cpu_seconds.audit, audit.stored),
      clickhouse: per1000(audit.cpu_seconds.clickhouse, audit.stored),
    },
  };
}

/** The two ceilings, and the pipeline's throughput as a share of each (same run, same machine). */
async function ceilingsOf(deliveriesPerSecond: number, receiver: { port: number; pid?: number }) {
  const bullmq = await bullmqCeiling({ children, config, queueName, jobs: THROUGHPUT_EVENTS });
  const http = await httpCeiling({
    config,
    receiverPort: receiver.port,
    receiverCpu: () => cpuSeconds(receiver.pid),
    run,
    requests: THROUGHPUT_EVENTS,
  });
  const bound = jobAndPostBound(bullmq, http, availableParallelism());
  const ratio = (ceiling: number) => Number((deliveriesPerSecond / ceiling).toFixed(2));
  const figures = {
    bullmq_noop_per_second: bullmq.per_second,
    http_per_second: http.per_second,
    pipeline_to_bullmq: ratio(bullmq.per_second),
    pipeline_to_http: ratio(http.per_second),
    job_and_post_bound_per_second: bound.per_second,
    job_and_post_bound_to_bullmq: Number((bound.per_second / bullmq.per_second).toFixed(2)),
    pipeline_to_job_and_post_bound: ratio(bound.per_second),
    bullmq,
    http,
    job_and_post_bound: bound,
  };
  say(
    `ceilings: BullMQ no-op ${bullmq.per_second} jobs/s, raw signed POSTs ${http.per_second}/s; the pipeline's ${deliveriesPerSecond} deliveries/s is ${figures.pipeline_to_bullmq} of the first (target ≥ 0.8) and ${figures.pipeline_to_http} of the second`,
  );
  say(
    `one no-op job (${bound.cpu_ms_per_noop_job} ms of CPU) and one raw POST (${bound.cpu_ms_per_post} ms) per delivery and nothing else would carry at most ${bound.per_second}/s on ${bound.cores} cores: ${figures.job_and_post_bound_to_bullmq} of the BullMQ ceiling; the pipeline is ${figures.pipeline_to_job_and_post_bound} of that bound`,
  );
  return figures;
}

/** Stops the processes (bad neighbours' receivers first), then removes what the bench created. */
async function cleanup() {
  await children.stopAll();
  const left = await resources.cleanup();
  if (left.length > 0) console.error(`[bench] clean-up incomplete: ${left.join('; ')}`);
  else say('cleaned up: subscriptions, flow keys, queue, consumer group and processes gone');
  await producer.disconnect().catch(() => {});
  await admin.disconnect().catch(() => {});
  await end({ timeout: 5 });
}

await runBench({ label: 'bench', main, cleanup, say });
