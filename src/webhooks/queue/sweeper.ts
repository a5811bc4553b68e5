import type { Queue } from 'bullmq';
import type { Sql } from '../../db/client.js';
import type { Logger } from '../../logger.js';
import { type Component, periodicComponent } from '../../platform/component.js';
import { statusSql } from '../deliveries/status.js';
import type { FlowControl } from '../flow/flow-control.js';
import { requeueDeliveries } from './enqueue.js';
import { jobIdOf } from './jobs.js';

/**
 * Finds deliveries that should be in the queue but are not (their job was lost, e.g. with Redis data,
 * or failed for a reason the worker could not record) and queues them again under a new generation.
 * A delivery is overdue when it is pending or retrying and its next attempt was due `graceSeconds`
 * ago; it is re-queued only if BullMQ no longer holds a live job for it and it is not parked in its
 * subscription's line. Looks at `limit` overdue deliveries in id order after `after` (a sweep goes on
 * where the last one stopped: a long line of parked ones never hides a lost one behind it). Returns
 * how many were queued again, and the last id looked at (null when none was left).
 */
export async function sweepLostDeliveries(
  deps: { sql: Sql; queue: Queue; flow: FlowControl; retries: number },
  options: { graceSeconds: number; limit?: number; after?: string } = { graceSeconds: 300 },
): Promise<{ requeued: number; last: string | null }> {
  const overdue = await deps.sql<{ id: string; generation: number; subscription_id: string }[]>`
    SELECT id, generation, subscription_id FROM webhook_deliveries
    WHERE status IN (${statusSql(deps.sql, 'pending', 'retrying')}) AND id > ${options.after ?? NO_ID}
      AND COALESCE(next_attempt_at, created_at) < now() - make_interval(secs => ${options.graceSeconds})
    ORDER BY id LIMIT ${options.limit ?? 1_000}`;
  // One state lookup per row, all sent at once ('unknown': BullMQ holds no such job); a job parked in
  // its subscription's line has no BullMQ job until its turn comes, and is not lost either.
  const live = await Promise.all(
    overdue.map(async (row) => {
      const jobId = jobIdOf({ deliveryId: row.id, generation: row.generation });
      const state = await deps.queue.getJobState(jobId);
      if (!['unknown', 'completed', 'failed'].includes(state)) return true;
      return deps.flow.isParked(row.subscription_id, jobId);
    }),
  );
  const last = overdue.at(-1)?.id ?? null;
  const lost = overdue.filter((_, i) => !live[i]).map((row) => row.id);
  if (lost.length === 0) return { requeued: 0, last };
  const requeued = await requeueDeliveries(
    deps,
    deps.sql`id = ANY(${lost}::uuid[]) AND status IN (${statusSql(deps.sql, 'pending', 'retrying')})`,
    { resetStatus: false },
  );
  return { requeued, last };
}

/** Below every delivery id. */
const NO_ID = '00000000-0000-0000-0000-000000000000';

/** Runs the sweep every `intervalMs`. */
export function sweeperComponent(options: {
  sql: Sql;
  queue: Queue;
  flow: FlowControl;
  retries: number;
  logger: Logger;
  intervalMs?: number;
}): Component {
  let after: string | undefined;
  return periodicComponent({
    name: 'delivery-sweeper',
    intervalMs: options.intervalMs ?? 60_000,
    logger: options.logger,
    failure: 'sweeping lost deliveries failed',
    task: async () => {
      const { requeued, last } = await sweepLostDeliveries(options, { graceSeconds: 300, after });
      after = last ?? undefined; // from the start again once the end is reached
      if (requeued > 0) options.logger.warn({ count: requeued }, 're-queued deliveries whose jobs were lost');
    },
  });
}
