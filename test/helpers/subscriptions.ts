import { v7 as uuidv7 } from 'uuid';
import type { Sql } from '../../src/db/client.js';
import { createRedis } from '../../src/redis.js';
import { newSigningSecret } from '../../src/webhooks/delivery/signing.js';
import { FlowControl } from '../../src/webhooks/flow/flow-control.js';
import { notifySubscriptionsChanged } from '../../src/webhooks/subscriptions/subscription-index.js';
import { testConfig } from './env.js';

/**
 * A subscription to `user.profile.updated` written straight into the table (the processes' indexes
 * told), for tests that run workers without the API; `remove` deletes it (its deliveries go with it)
 * and its flow keys in Redis, and tells the indexes.
 */
export async function insertSubscription(sql: Sql, input: { url: string; maxInFlight?: number }) {
  const id = uuidv7();
  await sql`INSERT INTO webhook_subscriptions (id, url, event_types, secret, max_in_flight)
    VALUES (${id}, ${input.url}, ${['user.profile.updated']}, ${newSigningSecret()},
      ${input.maxInFlight === undefined ? sql`DEFAULT` : input.maxInFlight})`;
  await notifySubscriptionsChanged(sql);
  const remove = async () => {
    await sql`DELETE FROM webhook_subscriptions WHERE id = ${id}`;
    await notifySubscriptionsChanged(sql);
    const redis = createRedis(testConfig.REDIS_URL, 'command', 'test-subscription');
    try {
      await redis.del(...FlowControl.keys(id));
    } finally {
      redis.disconnect();
    }
  };
  return { id, remove };
}
