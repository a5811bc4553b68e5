import { registerApiRoutes } from '../api/routes.js';
import { createDetector } from '../audit/detector.js';
import { AuditWorker } from '../audit/worker.js';
import { adminBootstrapComponent } from '../auth/bootstrap-admin.js';
import { createAuthDeps } from '../auth/context.js';
import { registerConsole } from '../console/routes.js';
import { createOutboxMetrics } from '../events/metrics.js';
import { OutboxRelay } from '../events/relay.js';
import { allTopics } from '../events/topics.js';
import type { App } from '../http/app.js';
import { createRedis } from '../redis.js';
import type { WebhookDeps } from '../webhooks/context.js';
import { retentionComponent } from '../webhooks/deliveries/retention.js';
import { WebhookHttpClient } from '../webhooks/delivery/http-client.js';
import { parseCidrs } from '../webhooks/delivery/ssrf.js';
import { DeliveryWorker } from '../webhooks/delivery/worker.js';
import { FanoutWorker } from '../webhooks/fanout/fanout.js';
import { FlowGate, lastAllowedMs, pumpComponent, readCircuits } from '../webhooks/flow/gate.js';
import { registerCircuitGauges, registerFailingDeliveryGauges } from '../webhooks/metrics.js';
import { sweeperComponent } from '../webhooks/queue/sweeper.js';
import { replayComponent } from '../webhooks/replays/replays.js';
import { maxInFlightsOf } from '../webhooks/subscriptions/subscription-index.js';
import type { Dependencies } from './dependencies.js';
import type { ProcessPlan } from './run.js';

/**
 * What each kind of process runs; the entries in workers/ pick one or combine several. A plan that
 * needs the webhook services takes them built by the entry (`createWebhookDeps`, once per process):
 * `npm start` passes the same to each.
 */
export function apiPlan(deps: Dependencies, webhooks: WebhookDeps): ProcessPlan {
  const auth = createAuthDeps(deps);
  return {
    components: [
      adminBootstrapComponent(auth),
      // Bulk replays run where they are started; any API process resumes one after a restart.
      replayComponent({ ...webhooks.subscriptions, logger: deps.logger.child({ component: 'replays' }) }),
    ],
    routes: (app: App) => {
      registerApiRoutes(app, deps, { auth, webhooks });
      registerConsole(app, {
        auth,
        webhooks,
        config: deps.config,
        clickhouse: deps.clickhouse,
        logger: deps.logger,
      });
    },
    services: { webhooks },
  };
}

export function relayPlan(deps: Dependencies): ProcessPlan {
  const { config } = deps;
  return {
    components: [
      new OutboxRelay({
        sql: deps.sql,
        kafka: deps.kafka,
        logger: deps.logger.child({ component: 'outbox-relay' }),
        metrics: createOutboxMetrics(deps.metrics.registry, deps.sql),
        batchSize: config.OUTBOX_BATCH_SIZE,
        pollIntervalMs: config.OUTBOX_POLL_INTERVAL_MS,
        retentionHours: config.OUTBOX_RETENTION_HOURS,
      }),
    ],
  };
}

/** The fan-out worker: Kafka event topics → matching subscriptions → delivery rows and jobs. */
export function fanoutPlan(deps: Dependencies, hooks: WebhookDeps): ProcessPlan {
  const logger = deps.logger.child({ component: 'fanout' });
  return {
    services: { webhooks: hooks },
    consumerGroups: [{ groupId: deps.config.FANOUT_GROUP_ID, topics: allTopics }],
    components: [
      hooks.index,
      new FanoutWorker(deps.kafka, {
        sql: deps.sql,
        queue: hooks.queue,
        flow: hooks.flow,
        index: hooks.index,
        metrics: hooks.metrics,
        logger,
        retries: deps.config.WEBHOOK_RETRY_SCHEDULE.length,
        groupId: deps.config.FANOUT_GROUP_ID,
        topics: allTopics,
        registry: deps.metrics.registry,
      }),
    ],
  };
}

/** The delivery workers: BullMQ jobs → signed POSTs with retries, attempts recorded. */
export function deliveryPlan(deps: Dependencies, hooks: WebhookDeps): ProcessPlan {
  const { config } = deps;
  const logger = deps.logger.child({ component: 'delivery' });
  registerFailingDeliveryGauges(deps.metrics.registry, deps.sql);
  registerCircuitGauges(deps.metrics.registry, () => readCircuits(deps.redis, hooks.flow));
  const retries = config.WEBHOOK_RETRY_SCHEDULE.length;
  const deferLimitMs = lastAllowedMs({
    schedule: config.WEBHOOK_RETRY_SCHEDULE,
    jitter: config.WEBHOOK_RETRY_JITTER,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    maxCooldownMs: config.WEBHOOK_BREAKER_MAX_COOLDOWN_SECONDS * 1_000,
  });
  const flowOptions = { flow: hooks.flow, queue: hooks.queue, retries, lastAllowedMs: deferLimitMs, logger };
  return {
    services: { webhooks: hooks },
    components: [
      hooks.index,
      deliveryWorker(
        deps,
        hooks,
        new FlowGate({ ...flowOptions, redis: deps.redis, sql: deps.sql, metrics: hooks.metrics }),
      ),
      pumpComponent({ ...flowOptions, windowsOf: (ids) => maxInFlightsOf(deps.sql, ids) }),
      retentionComponent({ sql: deps.sql, retentionDays: config.WEBHOOK_RETENTION_DAYS, logger }),
      ...(config.DELIVERY_SWEEP_INTERVAL_SECONDS > 0
        ? [
            sweeperComponent({
              sql: deps.sql,
              queue: hooks.queue,
              flow: hooks.flow,
              retries,
              logger,
              intervalMs: config.DELIVERY_SWEEP_INTERVAL_SECONDS * 1_000,
            }),
          ]
        : []),
    ],
  };
}

/** The BullMQ worker pool that makes the attempts, with its HTTP client (closed with the process). */
function deliveryWorker(deps: Dependencies, hooks: WebhookDeps, gate: FlowGate): DeliveryWorker {
  const { config } = deps;
  const http = new WebhookHttpClient({
    allowedCidrs: parseCidrs(config.WEBHOOK_ALLOWED_CIDRS),
    connectionsPerOrigin: config.DELIVERY_CONNECTIONS_PER_ORIGIN,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    connectTimeoutMs: config.WEBHOOK_CONNECT_TIMEOUT_MS,
    maxResponseBytes: config.WEBHOOK_MAX_RESPONSE_BYTES,
    excerptBytes: config.WEBHOOK_RESPONSE_EXCERPT_BYTES,
  });
  deps.onClose(() => http.close());
  return new DeliveryWorker({
    queueName: config.WEBHOOK_QUEUE,
    connection: createRedis(config.REDIS_URL, 'queue', `${config.WEBHOOK_QUEUE}:worker`),
    redis: deps.redis,
    gate,
    queue: hooks.queue,
    sql: deps.sql,
    index: hooks.index,
    http,
    metrics: hooks.metrics,
    logger: deps.logger.child({ component: 'delivery' }),
    concurrency: config.DELIVERY_CONCURRENCY,
    retry: {
      schedule: config.WEBHOOK_RETRY_SCHEDULE,
      jitter: config.WEBHOOK_RETRY_JITTER,
      maxRetryAfterSeconds: config.WEBHOOK_RETRY_AFTER_MAX_SECONDS,
    },
    disableAfterSeconds: config.WEBHOOK_DISABLE_AFTER_SECONDS,
  });
}

/** The audit worker: event topics → ClickHouse, and the detection of suspicious activity. */
export function auditPlan(deps: Dependencies): ProcessPlan {
  const { config } = deps;
  return {
    consumerGroups: [{ groupId: config.AUDIT_GROUP_ID, topics: allTopics }],
    components: [
      new AuditWorker({
        kafka: deps.kafka,
        clickhouse: deps.clickhouse,
        database: config.AUDIT_DATABASE,
        groupId: config.AUDIT_GROUP_ID,
        topics: allTopics,
        batchSize: config.AUDIT_BATCH_SIZE,
        flushMs: config.AUDIT_FLUSH_MS,
        truncateIp: config.AUDIT_TRUNCATE_IP,
        retentionDays: config.AUDIT_RETENTION_DAYS,
        logger: deps.logger.child({ component: 'audit' }),
        registry: deps.metrics.registry,
        afterInsert: createDetector({
          clickhouse: deps.clickhouse,
          database: config.AUDIT_DATABASE,
          sql: deps.sql,
          redis: deps.redis,
          logger: deps.logger.child({ component: 'audit-detector' }),
          registry: deps.metrics.registry,
          stuffingFailures: config.AUDIT_STUFFING_FAILURES,
          stuffingIps: config.AUDIT_STUFFING_IPS,
          windowSeconds: config.AUDIT_WINDOW_SECONDS,
          newIpAfterFailures: config.AUDIT_NEW_IP_AFTER_FAILURES,
        }),
      }),
    ],
    checks: {
      clickhouse: () => deps.clickhouse.ping().then((r) => (r.success ? r : Promise.reject(r.error))),
    },
  };
}

/**
 * Several plans in one process: components in order (one that several plans list, as the subscription
 * index, once, where it first comes), routes of each.
 */
export function combinePlans(...plans: ProcessPlan[]): ProcessPlan {
  return {
    components: [...new Set(plans.flatMap((plan) => plan.components))],
    services: Object.assign({}, ...plans.map((plan) => plan.services ?? {})),
    consumerGroups: plans.flatMap((plan) => plan.consumerGroups ?? []),
    routes: (app) => {
      for (const plan of plans) plan.routes?.(app);
    },
    checks: Object.assign({}, ...plans.map((plan) => plan.checks ?? {})),
  };
}
