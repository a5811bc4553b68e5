import type { Redis } from 'ioredis';
import type { Admin, Kafka } from 'kafkajs';
import { type ClickHouseClient, createClickHouse } from '../clickhouse/client.js';
import type { Config, ProcessName } from '../config/load.js';
import { createDatabase, type Database, type Sql } from '../db/client.js';
import { createKafka } from '../kafka/client.js';
import type { Logger } from '../logger.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import { createRedis } from '../redis.js';

/**
 * Everything a process talks to, built once at boot and passed down. Nothing here is a module-level
 * singleton: tests build their own with their own names.
 */
export interface Dependencies {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  db: Database;
  sql: Sql;
  /** Application commands (session cache, rate limits). */
  redis: Redis;
  kafka: Kafka;
  clickhouse: ClickHouseClient;
  /** Probes used by `/readyz`: they fail fast instead of queueing while a dependency is down. */
  probes: { redis: Redis; kafkaAdmin: Admin };
  /** Registers something to close with the process (after its components have stopped). */
  onClose(close: () => Promise<unknown>): void;
  close(): Promise<void>;
}

/**
 * The processes whose raw SQL is the delivery hot path (fan-out, loading and recording attempts): on
 * tables that grow from empty, stale statistics or a plan cached while a table was empty (after a
 * purge and its vacuum, the planner picked a sequential scan for the delivery loader) would scan a
 * whole table per statement. Their sessions start with sequential scans off, so every statement uses
 * its index without a `SET LOCAL` (and a transaction) of its own; and with custom plans only: a
 * statement's generic plan cannot prune the partitions of `id = ANY($1)` (docs/adr/0012), a custom
 * plan reads only the partitions the ids fall in.
 */
const HOT_PATH_PROCESSES = new Set<ProcessName>(['fanout', 'delivery', 'all']);

export function createDependencies(config: Config, logger: Logger, process: ProcessName): Dependencies {
  const metrics = createMetrics({ process });
  const {
    db,
    sql,
    end: endDatabase,
  } = createDatabase({
    url: config.DATABASE_URL,
    poolSize: config.DATABASE_POOL_SIZE,
    applicationName: `hookline-${process}`,
    settings: HOT_PATH_PROCESSES.has(process)
      ? { enable_seqscan: 'off', plan_cache_mode: 'force_custom_plan' }
      : {},
  });
  const redis = createRedis(config.REDIS_URL, 'command', process);
  const probeRedis = createRedis(config.REDIS_URL, 'probe', `${process}:probe`);
  // Connection errors are reported by the readiness checks; the clients reconnect on their own.
  for (const client of [redis, probeRedis]) client.on('error', () => {});
  const clientId = `${config.KAFKA_CLIENT_ID}-${process}`;
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId, logger });
  const probeKafka = createKafka({
    brokers: config.KAFKA_BROKERS,
    clientId: `${clientId}-probe`,
    logger,
    probe: true,
  });
  const kafkaAdmin = probeKafka.admin();
  const clickhouse = createClickHouse({ url: config.CLICKHOUSE_URL });
  const closers: (() => Promise<unknown>)[] = [];

  return {
    config,
    logger,
    metrics,
    db,
    sql,
    redis,
    kafka,
    clickhouse,
    probes: { redis: probeRedis, kafkaAdmin },
    onClose(close) {
      closers.push(close);
    },
    async close() {
      await Promise.allSettled(closers.map((close) => close()));
      await Promise.allSettled([
        kafkaAdmin.disconnect(),
        redis.quit().catch(() => redis.disconnect()),
        probeRedis.quit().catch(() => probeRedis.disconnect()),
        endDatabase({ timeout: 5 }),
        clickhouse.close(),
      ]);
    },
  };
}

/** The readiness checks of a process that uses PostgreSQL, Redis and Kafka. */
export function dependencyChecks(deps: Dependencies) {
  return {
    postgres: () => deps.sql`SELECT 1`,
    redis: () => deps.probes.redis.ping(),
    kafka: async () => {
      await deps.probes.kafkaAdmin.connect();
      const cluster = await deps.probes.kafkaAdmin.describeCluster();
      if (cluster.brokers.length === 0) throw new Error('no broker in the cluster metadata');
    },
  };
}
