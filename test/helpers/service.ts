import { Queue } from 'bullmq';
import { createDatabase } from '../../src/db/client.js';
import { createRedis } from '../../src/redis.js';
import { FlowControl } from '../../src/webhooks/flow/flow-control.js';
import { linesKey } from '../../src/webhooks/flow/model.js';
import { SecretBox } from '../../src/webhooks/subscriptions/secret-box.js';
import type { SubscriptionDeps } from '../../src/webhooks/subscriptions/store.js';
import { testConfig, uniqueSuffix } from './env.js';

/**
 * What the webhook verbs need, for a service test: the real PostgreSQL and Redis of the local stack, a
 * queue of the file's own, and `close`, which removes the queue and its flow lines and ends the pools.
 */
export function serviceDeps(label: string, rules: Partial<SubscriptionDeps['rules']> = {}) {
  const run = uniqueSuffix();
  const database = createDatabase({ url: testConfig.DATABASE_URL, poolSize: 2, applicationName: 'test' });
  const redis = createRedis(testConfig.REDIS_URL, 'command', `service-${run}`);
  const queueName = `test-${label}-${run}`;
  const queue = new Queue(queueName, { connection: createRedis(testConfig.REDIS_URL, 'queue', queueName) });
  const flow = new FlowControl(redis, {
    breaker: { failureThreshold: 5, cooldownMs: 10_000, maxCooldownMs: 600_000 },
    leaseMs: 20_000,
    queueName,
  });
  const deps: SubscriptionDeps = {
    sql: database.sql,
    secrets: new SecretBox([`service-test-key-${run}`]),
    flow,
    queue,
    retries: 3,
    rules: { allowHttp: false, defaultMaxInFlight: 20, secretOverlapSeconds: 3_600, ...rules },
  };
  const close = async () => {
    await queue.obliterate({ force: true });
    await redis.del(linesKey(queueName));
    await queue.close();
    redis.disconnect();
    await database.end({ timeout: 5 });
  };
  return { run, deps, database, redis, queue, flow, close };
}
