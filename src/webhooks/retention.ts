import type { Sql } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { Component } from '../platform/component.js';

/**
 * Deletes delivery rows (their attempts go with them) and stored event payloads older than the
 * retention, a chunk at a time so no statement holds locks for long. Deliveries still pending or
 * retrying are kept whatever their age.
 */
export async function pruneWebhookData(
  sql: Sql,
  retentionDays: number,
  chunk = 5_000,
): Promise<{ deliveries: number; events: number }> {
  let deliveries = 0;
  for (;;) {
    const deleted = await sql`
      DELETE FROM webhook_deliveries WHERE id IN (
        SELECT id FROM webhook_deliveries
        WHERE created_at < now() - make_interval(days => ${retentionDays}) AND status IN ('succeeded', 'dead')
        LIMIT ${chunk})`;
    deliveries += deleted.count;
    if (deleted.count < chunk) break;
  }
  let events = 0;
  for (;;) {
    const deleted = await sql`
      DELETE FROM webhook_events WHERE id IN (
        SELECT e.id FROM webhook_events e
        WHERE e.created_at < now() - make_interval(days => ${retentionDays})
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)
        LIMIT ${chunk})`;
    events += deleted.count;
    if (deleted.count < chunk) break;
  }
  return { deliveries, events };
}

/** Runs the pruning every `intervalMs` (and once shortly after start). */
export function retentionComponent(options: {
  sql: Sql;
  retentionDays: number;
  logger: Logger;
  intervalMs?: number;
}): Component {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const run = () => {
    running = pruneWebhookData(options.sql, options.retentionDays).then(
      (pruned) => {
        if (pruned.deliveries + pruned.events > 0)
          options.logger.info(pruned, 'pruned old webhook deliveries and events');
      },
      (error: unknown) => options.logger.error({ err: error }, 'pruning webhook data failed'),
    );
  };
  return {
    name: 'webhook-retention',
    start: async () => {
      timer = setInterval(run, options.intervalMs ?? 3_600_000);
      timer.unref();
      setTimeout(run, 10_000).unref();
    },
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
