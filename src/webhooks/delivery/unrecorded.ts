import type { Redis } from 'ioredis';
import type { AttemptOutcome } from './policy.js';

/** The delivery id of a job id (`deliveryId` or `deliveryId.generation`). */
export const deliveryIdOfJob = (jobId: string) => jobId.split('.')[0] ?? jobId;

/** Whether the receiver may have got the request: it answered, or the connection broke after sending. */
export const mayHaveReached = (outcome: AttemptOutcome) =>
  outcome.kind === 'response' || ['timeout', 'connection_reset', 'network'].includes(outcome.errorKind);

/**
 * Marks of deliveries whose attempt may have reached the receiver without being recorded (recording
 * failed, or the job stalled mid-attempt), in a Redis hash per delivery kept 7 days (BullMQ's failed
 * jobs are kept as long). Written only on those failure paths; the delivery's next run takes the mark
 * and counts its send as a duplicate, so the hot path pays nothing.
 */
export class UnrecordedSends {
  constructor(private readonly redis: Redis) {}

  private key = (deliveryId: string) => `hookline:webhooks:unrecorded:${deliveryId}`;

  async mark(deliveryId: string, reason: 'unrecorded' | 'stalled'): Promise<void> {
    await this.redis
      .multi()
      .hincrby(this.key(deliveryId), reason, 1)
      .expire(this.key(deliveryId), 7 * 86_400)
      .exec();
  }

  /** The marks of a delivery by reason (removing them), or undefined when there are none. */
  async take(deliveryId: string): Promise<Record<string, number> | undefined> {
    const result = await this.redis.multi().hgetall(this.key(deliveryId)).del(this.key(deliveryId)).exec();
    const marks = (result?.[0]?.[1] ?? {}) as Record<string, string>;
    const entries = Object.entries(marks).map(([reason, count]) => [reason, Number(count)] as const);
    return entries.length > 0 ? Object.fromEntries(entries) : undefined;
  }
}
