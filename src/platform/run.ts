import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { ConfigError, loadConfig, type ProcessName } from '../config/load.js';
import { migrateDatabase } from '../db/migrate.js';
import { allTopics } from '../events/topics.js';
import { Readiness } from '../health/readiness.js';
import { type App, newApp } from '../http/app.js';
import { httpMetrics } from '../http/middleware/metrics.js';
import { registerHealthRoutes } from '../http/routes/health.js';
import { type ConsumerGroup, registerConsumerLag } from '../kafka/lag.js';
import { ensureTopics } from '../kafka/topics.js';
import { createLogger } from '../logger.js';
import type { WebhookDeps } from '../webhooks/context.js';
import type { Component } from './component.js';
import { createDependencies, type Dependencies, dependencyChecks } from './dependencies.js';
import { retryUntil } from './retry.js';

export interface ProcessPlan {
  /** Long-running parts, started in order and stopped in reverse order. */
  components: Component[];
  /** Routes beyond `/healthz`, `/readyz` and `/metrics` (the API's). */
  routes?: (app: App) => void;
  /** Readiness checks beyond PostgreSQL, Redis and Kafka (e.g. ClickHouse for the audit worker). */
  checks?: Record<string, () => Promise<unknown>>;
  /** The Kafka consumer groups its components run (their lag is a metric of the process). */
  consumerGroups?: ConsumerGroup[];
  /** The services the plan was built with, for whoever runs the process in-process (tests). */
  services?: { webhooks?: WebhookDeps };
}

export interface RunningProcess {
  deps: Dependencies;
  /** What the process runs (its components, and the services they were built with). */
  plan: ProcessPlan;
  port: number;
  stop(reason: string): Promise<void>;
}

/**
 * Boots one hookline process: parses its config (a bad value stops it, naming the variable), builds
 * its dependencies once, applies migrations and creates topics, starts its components and an HTTP
 * server (health, readiness, metrics, and the API where planned), and shuts down gracefully on
 * SIGTERM/SIGINT: not ready at once, stop accepting, finish in-flight work, close pools.
 */
export async function runProcess(
  name: ProcessName,
  plan: (deps: Dependencies) => ProcessPlan,
  env: Record<string, string | undefined> = process.env,
): Promise<RunningProcess> {
  const config = loadConfig(name, env);
  const logger = createLogger({ level: config.LOG_LEVEL, process: name });
  const deps = createDependencies(config, logger, name);
  const started: Component[] = [];
  let server: ServerType | undefined;
  try {
    await prepareStores(deps);
    const planned = plan(deps);
    if (planned.consumerGroups?.length) registerConsumerLag(deps, planned.consumerGroups);
    const readiness = new Readiness(
      { ...dependencyChecks(deps), ...planned.checks },
      config.READINESS_TIMEOUT_MS,
    );
    const app = processApp(deps, readiness, planned);
    for (const component of planned.components) {
      await component.start();
      started.push(component);
      logger.info({ component: component.name }, 'component started');
    }
    server = serve({ fetch: app.fetch, hostname: config.HOST, port: config.PORT });
    const port = await listening(server);
    logger.info({ host: config.HOST, port, components: started.map((c) => c.name) }, 'process ready');
    return { deps, port, plan: planned, stop: stopper({ deps, server, readiness, started }) };
  } catch (error) {
    // A failed start leaves nothing running: stop what started, close the pools, then report.
    for (const component of [...started].reverse()) await component.stop().catch(() => {});
    server?.close();
    await deps.close();
    throw error;
  }
}

/**
 * The process's HTTP app: metrics of every request, health and readiness, then the plan's routes (the
 * API's). The OpenAPI document is generated from the same app (src/api/document.ts).
 */
export function processApp(
  deps: Pick<Dependencies, 'config' | 'logger' | 'metrics'>,
  readiness: Readiness,
  planned: Pick<ProcessPlan, 'routes'>,
): App {
  const app = newApp({ logger: deps.logger, bodyLimitBytes: deps.config.BODY_LIMIT_BYTES });
  app.use(httpMetrics(deps.metrics));
  registerHealthRoutes(app, { readiness, metrics: deps.metrics });
  planned.routes?.(app);
  return app;
}

/** Migrations applied (when MIGRATE_ON_START) and Kafka topics created, each retried for a minute. */
async function prepareStores(deps: Dependencies): Promise<void> {
  const { config, logger } = deps;
  if (config.MIGRATE_ON_START) {
    await retryUntil('database migration', () => migrateDatabase(deps.db, deps.sql, logger), {
      logger,
      deadlineMs: 60_000,
    });
  }
  const admin = deps.kafka.admin();
  try {
    await retryUntil(
      'creating Kafka topics',
      async () => {
        await admin.connect();
        await ensureTopics(admin, {
          topics: allTopics,
          partitions: config.KAFKA_TOPIC_PARTITIONS,
          replicationFactor: config.KAFKA_REPLICATION_FACTOR,
          logger,
        });
      },
      { logger, deadlineMs: 60_000 },
    );
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** The port the server listens on, once it does. */
async function listening(server: ServerType): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return (server.address() as AddressInfo).port;
}

/**
 * The process's stop (once, whatever calls it): not ready at once, stop accepting, stop the components
 * in reverse order, close the pools; exits 1 if it takes longer than SHUTDOWN_TIMEOUT_MS.
 */
function stopper(running: {
  deps: Dependencies;
  server: ServerType;
  readiness: Readiness;
  started: Component[];
}): (reason: string) => Promise<void> {
  const { deps, server, readiness, started } = running;
  const { config, logger } = deps;
  let stopping: Promise<void> | undefined;
  return (reason: string) => {
    stopping ??= (async () => {
      logger.info({ reason }, 'shutting down');
      readiness.markShuttingDown();
      const timer = setTimeout(() => {
        logger.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out; exiting');
        process.exit(1);
      }, config.SHUTDOWN_TIMEOUT_MS);
      timer.unref();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      if ('closeIdleConnections' in server) server.closeIdleConnections();
      for (const component of [...started].reverse()) {
        try {
          await component.stop();
          logger.info({ component: component.name }, 'component stopped');
        } catch (error) {
          logger.error({ err: error, component: component.name }, 'component failed to stop cleanly');
        }
      }
      await closed;
      await deps.close();
      clearTimeout(timer);
      logger.info('shutdown complete');
    })();
    return stopping;
  };
}

/** Entry-point helper: runs the process and wires signals and fatal errors to a clean exit. */
export function main(name: ProcessName, plan: (deps: Dependencies) => ProcessPlan): void {
  runProcess(name, plan).then(
    (running) => {
      const onSignal = (signal: NodeJS.Signals) => {
        running.stop(signal).then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      process.on('unhandledRejection', (reason) => {
        running.deps.logger.fatal({ err: reason }, 'unhandled promise rejection');
        running.stop('unhandledRejection').finally(() => process.exit(1));
      });
    },
    (error: unknown) => {
      if (error instanceof ConfigError) {
        console.error(`hookline ${name}: ${error.message}`);
        process.exit(78); // EX_CONFIG
      }
      console.error(
        `hookline ${name}: failed to start: ${error instanceof Error ? error.message : String(error)}`,
      );
      process.exit(1);
    },
  );
}
