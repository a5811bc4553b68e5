import { Queue } from 'bullmq';
import type { Config } from '../config/load.js';
import type { Sql } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { Dependencies } from '../platform/dependencies.js';
import { createRedis } from '../redis.js';
import { FlowControl } from './flow/flow-control.js';
import {
  createWebhookMetrics,
  registerIndexGauge,
  registerQueueGauge,
  type WebhookMetrics,
} from './metrics.js';
import { SecretBox } from './subscriptions/secret-box.js';
import type { SubscriptionDeps } from './subscriptions/store.js';
import { SubscriptionIndex } from './subscriptions/subscription-index.js';

/** What the webhook services, the fan-out and the delivery workers share in one process. */
export interface WebhookDeps {
  sql: Sql;
  queue: Queue;
  config: Config;
  logger: Logger;
  metrics: WebhookMetrics;
  /** Seals and opens the subscriptions' signing secrets (WEBHOOK_SECRETS_KEYS). */
  secrets: SecretBox;
  /** The process's one in-memory subscription index (fan-out and delivery share it). */
  index: SubscriptionIndex;
  /** Per-subscription flow control in Redis (admission, slots, rate, circuit breaker). */
  flow: FlowControl;
  /** What the subscription verbs need (src/webhooks/subscriptions/). */
  subscriptions: SubscriptionDeps;
}

/**
 * The webhook services of a process, built once by its entry (workers/) and passed to each plan that
 * needs them: `npm start` shares one queue, index, flow control and set of metrics between its API,
 * fan-out and delivery.
 */
export function createWebhookDeps(deps: Dependencies): WebhookDeps {
  const queue = new Queue(deps.config.WEBHOOK_QUEUE, {
    connection: createRedis(deps.config.REDIS_URL, 'queue', `${deps.config.WEBHOOK_QUEUE}:producer`),
  });
  const metrics = createWebhookMetrics(deps.metrics.registry);
  registerQueueGauge(deps.metrics.registry, queue);
  const secrets = new SecretBox(deps.config.WEBHOOK_SECRETS_KEYS);
  const flowRedis = createRedis(deps.config.REDIS_URL, 'command', 'flow');
  flowRedis.on('error', () => {});
  deps.onClose(async () => {
    await flowRedis.quit().catch(() => flowRedis.disconnect());
  });
  const flow = new FlowControl(flowRedis, {
    breaker: {
      failureThreshold: deps.config.WEBHOOK_BREAKER_FAILURES,
      cooldownMs: deps.config.WEBHOOK_BREAKER_COOLDOWN_SECONDS * 1_000,
      maxCooldownMs: deps.config.WEBHOOK_BREAKER_MAX_COOLDOWN_SECONDS * 1_000,
    },
    // A slot held by a process that died is taken back once the attempt could no longer be running.
    leaseMs: deps.config.WEBHOOK_TIMEOUT_MS + 5_000,
    queueName: deps.config.WEBHOOK_QUEUE,
  });
  const index = new SubscriptionIndex(deps.sql, deps.logger.child({ component: 'subscriptions' }), secrets);
  registerIndexGauge(deps.metrics.registry, index);
  const built: WebhookDeps = {
    sql: deps.sql,
    queue,
    config: deps.config,
    logger: deps.logger,
    metrics,
    secrets,
    index,
    // Its own connection; calls for one subscription made together share one script call.
    flow,
    subscriptions: {
      sql: deps.sql,
      secrets,
      flow,
      queue,
      retries: deps.config.WEBHOOK_RETRY_SCHEDULE.length,
      rules: {
        allowHttp: deps.config.WEBHOOK_ALLOW_HTTP,
        defaultMaxInFlight: deps.config.WEBHOOK_MAX_IN_FLIGHT,
        secretOverlapSeconds: deps.config.WEBHOOK_SECRET_OVERLAP_SECONDS,
      },
    },
  };
  deps.onClose(() => queue.close());
  return built;
}
