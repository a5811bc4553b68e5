import type { Queue } from 'bullmq';
import type { Sql } from '../../db/client.js';
import { AppError } from '../../errors.js';
import type { FlowControl } from '../flow/flow-control.js';
import { requeueDeliveries } from '../queue/enqueue.js';
import { findSubscription } from '../subscriptions/store.js';
import { getDelivery } from './read.js';
import { statusSql } from './status.js';

/** What sending deliveries again needs. */
export interface RequeueDeps {
  sql: Sql;
  queue: Queue;
  flow: FlowControl;
  /** Retries of a delivery job (the schedule's length). */
  retries: number;
}

const requeue = (deps: RequeueDeps, where: ReturnType<Sql>) =>
  requeueDeliveries(deps, where, { resetStatus: true });

/** Sends one delivery again now, whatever its status. */
export async function retryDelivery(deps: RequeueDeps, id: string) {
  const count = await requeue(deps, deps.sql`id = ${id}`);
  if (count === 0) throw new AppError('not_found', 'No such delivery.');
  return getDelivery(deps, id);
}

/** Re-queues every dead delivery of a subscription created in [since, until). */
export async function recoverDeliveries(
  deps: RequeueDeps,
  subscriptionId: string,
  window: { since: string; until?: string | undefined },
) {
  await findSubscription(deps.sql, subscriptionId);
  const sql = deps.sql;
  const recovered = await requeue(
    deps,
    sql`subscription_id = ${subscriptionId} AND status = ${statusSql(sql, 'dead')} AND created_at >= ${window.since}
      ${window.until ? sql`AND created_at < ${window.until}` : sql``}`,
  );
  return { recovered };
}
