import type { Queue } from 'bullmq';
import type { Sql } from '../../db/client.js';
import { statusSql } from '../deliveries/status.js';
import type { FlowControl } from '../flow/flow-control.js';
import { DELIVER_JOB, type DeliverJob, deliverJobOptions, jobIdOf } from './jobs.js';

export interface EnqueueDeps {
  queue: Queue;
  flow: FlowControl;
  retries: number;
}

/** A delivery job to queue, with the subscription it goes to and that subscription's max_in_flight. */
export interface QueuedDelivery extends DeliverJob {
  subscriptionId: string;
  maxInFlight: number;
}

/**
 * Enqueues delivery jobs; a job whose id exists already is left as it is. Each subscription has a
 * window in the ready queue of twice its max_in_flight less its attempts in flight (fairness: a
 * subscription's backlog never stands in front of another's next event): jobs beyond it, or behind an
 * open circuit breaker, are parked in the subscription's line in Redis, with no BullMQ job, and get
 * one as its attempts end (docs/adr/0009). One admission script per subscription of the batch (sent
 * together) and one addBulk of the jobs admitted (or waiting for a probe).
 */
export async function enqueueDeliveries(deps: EnqueueDeps, jobs: readonly QueuedDelivery[]): Promise<void> {
  if (jobs.length === 0) return;
  const bySubscription = new Map<string, QueuedDelivery[]>();
  for (const job of jobs) {
    const group = bySubscription.get(job.subscriptionId);
    if (group) group.push(job);
    else bySubscription.set(job.subscriptionId, [job]);
  }
  const now = Date.now();
  const decisions = new Map<string, 'ready' | 'parked' | number>();
  await Promise.all(
    [...bySubscription].map(async ([subscriptionId, group]) => {
      const ids = group.map(jobIdOf);
      const admitted = await deps.flow.admit(subscriptionId, ids, group[0]?.maxInFlight ?? 1);
      for (const [i, id] of ids.entries()) decisions.set(id, admitted[i] ?? 'ready');
    }),
  );
  const added = jobs.flatMap((job) => {
    const decision = decisions.get(jobIdOf(job));
    if (decision === 'parked') return [];
    const delay = typeof decision === 'number' ? Math.max(0, decision - now) : 0;
    const data: DeliverJob = { deliveryId: job.deliveryId, generation: job.generation };
    return [{ name: DELIVER_JOB, data, opts: { ...deliverJobOptions(job, deps.retries), delay } }];
  });
  if (added.length > 0) await deps.queue.addBulk(added);
}

/** A delivery marked to be sent again (`markForRequeue`), to enqueue once that is committed. */
export interface Requeued {
  id: string;
  generation: number;
  subscription_id: string;
  max_in_flight: number;
}

/**
 * Moves deliveries to a new generation due now (their older jobs become stale, and are skipped), with
 * a fresh retry schedule; `resetStatus` makes them pending again. `where` selects the rows. The jobs
 * are queued by `enqueueRequeued` once this is committed: queued earlier, a worker could read the row
 * of the old generation and drop the job as stale.
 */
export async function markForRequeue(
  sql: Sql,
  where: ReturnType<Sql>,
  options: { resetStatus: boolean },
): Promise<Requeued[]> {
  return sql<Requeued[]>`
    UPDATE webhook_deliveries AS d SET generation = d.generation + 1, next_attempt_at = now(), updated_at = now()
      ${options.resetStatus ? sql`, status = ${statusSql(sql, 'pending')}` : sql``}
    FROM webhook_subscriptions AS s
    WHERE s.id = d.subscription_id AND d.id IN (SELECT id FROM webhook_deliveries WHERE ${where})
    RETURNING d.id, d.generation, d.subscription_id, s.max_in_flight`;
}

export function enqueueRequeued(deps: EnqueueDeps, rows: readonly Requeued[]): Promise<void> {
  return enqueueDeliveries(
    deps,
    rows.map((row) => ({
      deliveryId: row.id,
      generation: row.generation,
      subscriptionId: row.subscription_id,
      maxInFlight: row.max_in_flight,
    })),
  );
}

/**
 * Queues deliveries again under a new generation, with a fresh retry schedule: the operator's retry
 * and recover (`resetStatus`: back to pending), and the sweeper (status kept). Returns how many.
 */
export async function requeueDeliveries(
  deps: EnqueueDeps & { sql: Sql },
  where: ReturnType<Sql>,
  options: { resetStatus: boolean },
): Promise<number> {
  const rows = await markForRequeue(deps.sql, where, options);
  await enqueueRequeued(deps, rows);
  return rows.length;
}
