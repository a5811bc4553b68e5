// `npm run bench:scale`: the webhook pipeline and the deliveries search at production size. On a
// database of its own (hookline_scale_<run>, on the shared server, migrated through the partitioning
// pre-step with a cutover 14 days ago: scripts/bench/scale/database.ts) it measures sustained delivery
// throughput and the p95 of the deliveries search API (by subscription, status, time range, event id,
// user id) on the empty database; then fills it in SQL with BENCH_SCALE_ROWS deliveries (default 10
// million) of the last 14 days, with their events and attempts (scripts/bench/scale/fill.ts), and
// measures both again. Writes .bench/scale.json. Targets: full/empty throughput ≥ 0.9, every search
// p95 ≤ 50 ms. Whatever happens (a failure, Ctrl-C), its processes, queue, consumer group and database
// are removed at the end; BENCH_SCALE_KEEP=1 keeps the database (its URL is printed).
import { loadConfig } from '../src/config/load.js';
import { createDatabase } from '../src/db/client.js';
import { allTopics } from '../src/events/topics.js';
import { createKafka } from '../src/kafka/client.js';
import { startGroupAtEnd } from '../src/kafka/topics.js';
import { createLogger } from '../src/logger.js';
import { Children } from './bench/children.js';
import { runBench } from './bench/lifecycle.js';
import { loadOf } from './bench/load.js';
import { BenchResources } from './bench/resources.js';
import { migrateWithCutover } from './bench/scale/database.js';
import { fill, formatSeconds } from './bench/scale/fill.js';
import { startPipeline } from './bench/scale/pipeline.js';
import { resultOf, searchLines, summaryLines, writeResult } from './bench/scale/report.js';
import {
  forgetAdmin,
  measureSearch,
  type SearchValues,
  searchValues,
  signIn,
  startApi,
} from './bench/scale/search.js';
import { createScratch, dropScratch, type Scratch } from './lib/scratch-database.js';

const positive = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
};
const ROWS = positive('BENCH_SCALE_ROWS', 10_000_000);
const CHUNK = positive('BENCH_SCALE_CHUNK', 250_000);
const EVENTS = positive('BENCH_EVENTS', 30_000);
const KEEP = process.env.BENCH_SCALE_KEEP === '1';
const DAY = 86_400_000;
const DAYS = 14;

const config = loadConfig('all', process.env);
const logger = createLogger({ level: 'error', process: 'bench-scale' });
const run = Date.now().toString(36);
const databaseName = `hookline_scale_${run}`;
const groupId = `hookline-bench-scale-${run}`;
const queueName = `hookline-bench-scale-${run}`;
const say = (text: string) => console.log(`\x1b[1m[bench:scale]\x1b[0m ${text}`);

// A session on the shared database, only to create and drop the bench's own.
const admin = createDatabase({
  url: config.DATABASE_URL,
  poolSize: 1,
  applicationName: 'hookline-bench-scale',
});
const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'hookline-bench-scale', logger });
const kafkaAdmin = kafka.admin();
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
const children = new Children();
const load = loadOf(producer, run);
let scratch: Scratch | undefined;
let resources: BenchResources | undefined;

/** The bench's database, migrated through the pre-step (cutover 14 days ago). */
async function prepareDatabase(): Promise<Scratch> {
  say(
    `creating database ${databaseName} (on the server of DATABASE_URL; the shared database is not touched)`,
  );
  const created = await createScratch(admin.sql, config.DATABASE_URL, databaseName, {
    poolSize: 4,
    applicationName: 'hookline-bench-scale',
  });
  scratch = created;
  const partitions = await migrateWithCutover(created, Date.now() - DAYS * DAY);
  say(
    `migrated through the pre-step: legacy partition below ${partitions.cutover}, ${partitions.daily} daily partitions until ${partitions.until?.toISOString()}`,
  );
  return created;
}

async function searchPhase(base: string, sql: Scratch['sql'], subscriptions: string[], label: string) {
  const values: SearchValues = await searchValues(sql, subscriptions);
  const figures = await measureSearch(base, await signIn(base), values);
  say(`search (${label} database), 50 requests each after 5 warm-up ones:`);
  for (const line of searchLines(figures)) say(line);
  return figures;
}

/** Sizes and counts of the filled database, for the record. */
async function databaseFigures(sql: Scratch['sql']) {
  const [row] = await sql<{ bytes: number; deliveries: number; events: number; attempts: number }[]>`
    SELECT pg_database_size(current_database())::float8 AS bytes,
      (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('webhook_deliveries'))::float8 AS deliveries,
      (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('webhook_events'))::float8 AS events,
      (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('webhook_attempts'))::float8 AS attempts`;
  const mb = (bytes = 0) => Math.round(bytes / 1_048_576);
  return {
    database_mb: mb(row?.bytes),
    deliveries_mb: mb(row?.deliveries),
    events_mb: mb(row?.events),
    attempts_mb: mb(row?.attempts),
  };
}

/** The environment of the platform's processes: the bench's database, queue and consumer group. */
const platformEnv = (databaseUrl: string) => ({
  DATABASE_URL: databaseUrl,
  FANOUT_GROUP_ID: groupId,
  WEBHOOK_QUEUE: queueName,
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
  // The filled rows go back 14 days: a shorter retention in the environment must not prune them.
  WEBHOOK_RETENTION_DAYS: '30',
  LOG_LEVEL: 'info',
  PORT: '0',
});

/** ROWS deliveries of events over the last 14 days (until a minute ago), to 100 subscriptions of their own. */
async function fillPhase(url: string) {
  say(`filling ${ROWS.toLocaleString('en-US')} deliveries over the last ${DAYS} days, ${CHUNK} a statement`);
  const now = Date.now();
  const filled = await fill({
    url,
    rows: ROWS,
    chunk: CHUNK,
    from: now - DAYS * DAY + 60_000,
    to: now - 60_000,
    subscriptions: 100,
    users: 100_000,
    say,
  });
  say(`filled in ${formatSeconds(filled.seconds)} (${filled.events} events, ${filled.attempts} attempts)`);
  return filled;
}

async function main() {
  await kafkaAdmin.connect();
  await producer.connect();
  const database = await prepareDatabase();
  resources = new BenchResources({ sql: database.sql, admin: kafkaAdmin, config, queueName, groupId });
  // A consumer group of its own, starting at the end of each topic: only this run's events count.
  await startGroupAtEnd(kafka, groupId, allTopics);
  const env = platformEnv(database.url);
  const pipeline = await startPipeline({
    children,
    resources,
    sql: database.sql,
    config,
    load,
    run,
    env,
    say,
  });

  say(`empty database: throughput (${EVENTS} events), then the search API`);
  const throughputEmpty = await pipeline.throughput(EVENTS);
  say(`throughput_empty: ${throughputEmpty.deliveriesPerSecond} deliveries/s`);
  const api = await startApi(children, env, run);
  const searchEmpty = await searchPhase(api.base, database.sql, [pipeline.subscriptionId], 'empty');

  const filled = await fillPhase(database.url);

  say(`full database: throughput (${EVENTS} fresh events), then the search API`);
  const throughputFull = await pipeline.throughput(EVENTS);
  say(`throughput_full: ${throughputFull.deliveriesPerSecond} deliveries/s`);
  const searchFull = await searchPhase(api.base, database.sql, filled.subscriptionIds, 'full');

  const result = resultOf({
    rows: filled.rows,
    fillSeconds: filled.seconds,
    throughput: { empty: throughputEmpty, full: throughputFull },
    search: { empty: searchEmpty, full: searchFull },
    database: await databaseFigures(database.sql),
  });
  say(`wrote ${writeResult(result)}`);
  for (const line of summaryLines(result)) say(line);
}

/** Stops the processes, removes the queue, consumer group and Redis keys, then drops the database. */
async function cleanup() {
  await children.stopAll();
  const left: string[] = [];
  if (scratch && resources) {
    await forgetAdmin(scratch.sql, resources.redis).catch((error: Error) => {
      left.push(`the admin's Redis keys: ${error.message}`);
    });
  }
  if (resources) left.push(...(await resources.cleanup()));
  await scratch?.end({ timeout: 5 });
  if (KEEP && scratch) {
    say(`BENCH_SCALE_KEEP=1: kept ${scratch.url} (drop it with DROP DATABASE ${databaseName} WITH (FORCE))`);
  } else {
    await dropScratch(admin.sql, databaseName).catch((error: Error) => {
      left.push(`database ${databaseName}: ${error.message}`);
    });
  }
  if (left.length > 0) console.error(`[bench:scale] clean-up incomplete: ${left.join('; ')}`);
  else say(`cleaned up: processes, queue, consumer group, Redis keys${KEEP ? '' : ' and database'} gone`);
  await producer.disconnect().catch(() => {});
  await kafkaAdmin.disconnect().catch(() => {});
  await admin.end({ timeout: 5 });
}

await runBench({ label: 'bench:scale', main, cleanup, say });
