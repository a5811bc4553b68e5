import type { Queue } from 'bullmq';
import type { Sql } from '../db/client.js';
import { DELIVER_JOB, type DeliverJob, deliverJobOptions } from './queue.js';

/** Enqueues delivery jobs in one round trip; a job whose id exists already is left as it is. */
export async function enqueueDeliveries(
  queue: Queue,
  jobs: readonly DeliverJob[],
  retries: number,
): Promise<void> {
  if (jobs.length === 0) return;
  await queue.addBulk(
    jobs.map((job) => ({ name: DELIVER_JOB, data: job, opts: deliverJobOptions(job, retries) })),
  );
}

/**
 * Queues deliveries again under a new generation (their older jobs become stale, and are skipped),
 * with a fresh retry schedule: the operator's retry and recover (`resetStatus`: back to pending), and
 * the sweeper (status kept). `where` selects the rows. Returns how many were queued.
 */
export async function requeueDeliveries(
  deps: { sql: Sql; queue: Queue; retries: number },
  where: ReturnType<Sql>,
  options: { resetStatus: boolean },
): Promise<number> {
  const rows = await deps.sql<{ id: string; generation: number }[]>`
    UPDATE webhook_deliveries SET generation = generation + 1, next_attempt_at = now(), updated_at = now()
      ${options.resetStatus ? deps.sql`, status = 'pending'` : deps.sql``}
    WHERE ${where}
    RETURNING id, generation`;
  await enqueueDeliveries(
    deps.queue,
    rows.map((row) => ({ deliveryId: row.id, generation: row.generation })),
    deps.retries,
  );
  return rows.length;
}
