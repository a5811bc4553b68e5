import { z } from 'zod';

/**
 * The delivery job catalogue: one job kind, `deliver`, whose payload names the delivery and its
 * generation (bumped by a manual retry or a recovery, so that older jobs of it are recognised as
 * stale). The job id is the delivery id (or `id.generation`), so enqueuing twice is harmless.
 */
export const DELIVER_JOB = 'deliver';

export const DeliverJobSchema = z.object({
  deliveryId: z.uuid(),
  generation: z.number().int().min(0),
});
export type DeliverJob = z.infer<typeof DeliverJobSchema>;

export const jobIdOf = (job: DeliverJob) =>
  job.generation === 0 ? job.deliveryId : `${job.deliveryId}.${job.generation}`;

/** The job a job id names (jobIdOf's inverse); null for an id it cannot have made. */
export function deliverJobOf(jobId: string): DeliverJob | null {
  const [deliveryId, generation, ...rest] = jobId.split('.');
  const parsed = DeliverJobSchema.safeParse({ deliveryId, generation: Number(generation ?? 0) });
  return rest.length === 0 && parsed.success && (generation === undefined || generation !== '0')
    ? parsed.data
    : null;
}

/** BullMQ options of a delivery job under a retry schedule of `retries` delays. */
export function deliverJobOptions(job: DeliverJob, retries: number) {
  return {
    jobId: jobIdOf(job),
    attempts: retries + 1,
    backoff: { type: 'schedule' },
    removeOnComplete: true,
    removeOnFail: { age: 7 * 86_400 },
  };
}

/**
 * The delay before retry number `retry` (1-based) under `schedule` (seconds), with ± `jitter`, or
 * the receiver's Retry-After (clamped to `maxRetryAfterSeconds`) when it sent one.
 */
export function retryDelayMs(input: {
  schedule: readonly number[];
  retry: number;
  jitter: number;
  retryAfterSeconds?: number | undefined;
  maxRetryAfterSeconds: number;
  random?: () => number;
}): number {
  if (input.retryAfterSeconds !== undefined) {
    return Math.min(input.retryAfterSeconds, input.maxRetryAfterSeconds) * 1_000;
  }
  const base = (input.schedule[Math.min(input.retry, input.schedule.length) - 1] ?? 0) * 1_000;
  const factor = 1 + input.jitter * (2 * (input.random ?? Math.random)() - 1);
  return Math.max(0, Math.round(base * factor));
}
