import type { Sql } from '../../db/client.js';
import type { Logger } from '../../logger.js';
import { type Component, periodicComponent } from '../../platform/component.js';
import { statusSql } from './status.js';

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
        WHERE created_at < now() - make_interval(days => ${retentionDays}) AND status IN (${statusSql(sql, 'succeeded', 'dead')})
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
  return periodicComponent({
    name: 'webhook-retention',
    intervalMs: options.intervalMs ?? 3_600_000,
    firstRunAfterMs: 10_000,
    logger: options.logger,
    failure: 'pruning webhook data failed',
    task: async () => {
      const pruned = await pruneWebhookData(options.sql, options.retentionDays);
      if (pruned.deliveries + pruned.events > 0)
        options.logger.info(pruned, 'pruned old webhook deliveries and events');
    },
  });
}
