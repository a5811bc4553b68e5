import type { Queue } from 'bullmq';
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
