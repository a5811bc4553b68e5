// Everything the bench creates outside its own processes, and its removal, which runs even when the
// bench fails or is interrupted: a subscription left behind silently loads every later benchmark.
import { Queue } from 'bullmq';
import type { Admin } from 'kafkajs';
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../../src/config/load.js';
import type { Sql } from '../../src/db/client.js';
import { createRedis } from '../../src/redis.js';
import { newSigningSecret } from '../../src/webhooks/delivery/signing.js';
import { FlowControl } from '../../src/webhooks/flow/flow-control.js';
import { CIRCUITS_KEY, linesKey } from '../../src/webhooks/flow/model.js';
import { notifySubscriptionsChanged } from '../../src/webhooks/subscriptions/subscription-index.js';

export class BenchResources {
  /** Every subscription the bench created (recorded before its INSERT, so a failed one is tried too). */
  readonly subscriptionIds: string[] = [];
  readonly redis;
  readonly flow: FlowControl;

  constructor(
    private readonly deps: { sql: Sql; admin: Admin; config: Config; queueName: string; groupId: string },
  ) {
    this.redis = createRedis(deps.config.REDIS_URL, 'command', 'bench');
    this.flow = new FlowControl(this.redis, {
      breaker: {
        failureThreshold: deps.config.WEBHOOK_BREAKER_FAILURES,
        cooldownMs: deps.config.WEBHOOK_BREAKER_COOLDOWN_SECONDS * 1_000,
        maxCooldownMs: deps.config.WEBHOOK_BREAKER_MAX_COOLDOWN_SECONDS * 1_000,
      },
      leaseMs: deps.config.WEBHOOK_TIMEOUT_MS + 5_000,
      queueName: deps.queueName,
    });
  }

  /** A subscription to `user.profile.updated` (max_in_flight: the column's default unless given). */
  async subscribe(input: { url: string; description: string; maxInFlight?: number }): Promise<string> {
    const { sql } = this.deps;
    const id = uuidv7();
    this.subscriptionIds.push(id);
    const url = input.url;
    const types = ['user.profile.updated'];
    if (input.maxInFlight === undefined) {
      await sql`INSERT INTO webhook_subscriptions (id, url, event_types, secret, description)
        VALUES (${id}, ${url}, ${types}, ${newSigningSecret()}, ${input.description})`;
    } else {
      await sql`INSERT INTO webhook_subscriptions (id, url, event_types, secret, description, max_in_flight)
        VALUES (${id}, ${url}, ${types}, ${newSigningSecret()}, ${input.description}, ${input.maxInFlight})`;
    }
    return id;
  }

  /**
   * Removes what the bench created, once its processes have stopped (a delivery still running would
   * write flow keys and marks again): marks of unrecorded sends of its deliveries, its subscriptions'
   * unpublished breaker events, the subscriptions (their deliveries go with them), their flow keys and
   * place among the open circuits, the BullMQ queue, and the Kafka consumer group. Each step runs
   * whatever the others do; returns what is left over (nothing, normally).
   */
  async cleanup(): Promise<string[]> {
    const { sql, admin, config, queueName, groupId } = this.deps;
    const ids = this.subscriptionIds;
    const problems: string[] = [];
    const step = async (name: string, run: () => Promise<unknown>) => {
      try {
        await run();
      } catch (error) {
        problems.push(`${name}: ${(error as Error).message}`);
      }
    };
    await step('unrecorded-send marks', async () => {
      const prefix = 'hookline:webhooks:unrecorded:';
      const keys = await this.scan(`${prefix}*`);
      const deliveryIds = keys.map((key) => key.slice(prefix.length));
      if (deliveryIds.length === 0) return;
      const ours = await sql<{ id: string }[]>`
        SELECT id FROM webhook_deliveries
        WHERE id = ANY(${deliveryIds}::uuid[]) AND subscription_id = ANY(${ids}::uuid[])`;
      if (ours.length > 0) await this.redis.del(...ours.map((row) => `${prefix}${row.id}`));
    });
    if (ids.length > 0) {
      await step('breaker events', async () => {
        await sql`DELETE FROM outbox WHERE published_at IS NULL AND event_type LIKE 'webhook.subscription.%'
          AND payload->'data'->>'subscription_id' = ANY(${ids}::text[])`;
      });
      // The stored payloads of this run's events (each once, however many of its subscriptions got
      // it), unless a subscription of another run has a delivery of the same event: a database that
      // keeps every run's events makes every later run slower.
      await step('events', async () => {
        await sql`DELETE FROM webhook_events e
          WHERE e.id IN (SELECT event_id FROM webhook_deliveries WHERE subscription_id = ANY(${ids}::uuid[]))
            AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
              WHERE d.event_id = e.id AND NOT (d.subscription_id = ANY(${ids}::uuid[])))`;
      });
      await step('subscriptions', async () => {
        await sql`DELETE FROM webhook_subscriptions WHERE id = ANY(${ids}::uuid[])`;
        await notifySubscriptionsChanged(sql);
      });
      await step('flow keys', async () => {
        for (const id of ids) await this.flow.forget(id);
        await this.redis.zrem(CIRCUITS_KEY, ...ids);
        await this.redis.del(linesKey(queueName));
      });
    }
    await step('queue', async () => {
      const connection = createRedis(config.REDIS_URL, 'queue', 'bench-cleanup');
      const queue = new Queue(queueName, { connection });
      try {
        await queue.obliterate({ force: true });
      } finally {
        await queue.close();
        connection.disconnect(); // a connection handed to BullMQ stays open after queue.close()
      }
    });
    // The fan-out's group, and the audit phase's (`<group>-audit`) when it ran.
    const groupIds = [groupId, `${groupId}-audit`];
    await step('consumer groups', async () => {
      const existing = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
      const ours = groupIds.filter((id) => existing.has(id));
      if (ours.length > 0) await admin.deleteGroups(ours);
    });

    // What is left: nothing, or the reason.
    await step('check', async () => {
      const [subscriptions] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM webhook_subscriptions WHERE id = ANY(${ids}::uuid[])`;
      if (subscriptions?.n) problems.push(`${subscriptions.n} subscriptions left`);
      const flowKeys = (await Promise.all(ids.map((id) => this.scan(`hookline:flow:{${id}}:*`)))).flat();
      if (flowKeys.length > 0) problems.push(`flow keys left: ${flowKeys.join(', ')}`);
      if (await this.redis.exists(linesKey(queueName))) problems.push(`${linesKey(queueName)} left`);
      const queueKeys = await this.scan(`bull:${queueName}:*`);
      if (queueKeys.length > 0) problems.push(`${queueKeys.length} queue keys left`);
      const groups = await admin.listGroups();
      for (const left of groups.groups.filter((g) => groupIds.includes(g.groupId))) {
        problems.push(`consumer group ${left.groupId} left`);
      }
    });
    this.redis.disconnect();
    return problems;
  }

  private async scan(match: string): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', match, 'COUNT', 1_000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  }
}
