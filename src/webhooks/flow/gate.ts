import { Job as BullJob, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Sql } from '../../db/client.js';
import { buildSystemEvent } from '../../events/envelope.js';
import { enqueueEvents } from '../../events/outbox.js';
import type { Logger } from '../../logger.js';
import { type Component, periodicComponent } from '../../platform/component.js';
import type { WebhookMetrics } from '../metrics.js';
import { DELIVER_JOB, deliverJobOf, deliverJobOptions } from '../queue/jobs.js';
import type { ActiveSubscription } from '../subscriptions/subscription-index.js';
import type { FlowControl } from './flow-control.js';
import { type Admission, CIRCUITS_KEY, type Parked, type Release, type Verdict } from './model.js';

/**
 * A parked job's fallback: it runs again by itself after this long if no release promotes it. It is
 * also how long a job waits whose process died between delaying it and putting it in the line (then
 * only BullMQ knows it): a minute, so such a job is late by a minute, not five. A job that wakes while
 * its subscription still cannot take it is deferred again (at most twice the window per subscription).
 */
export const PARK_FALLBACK_MS = 60_000;

export interface FlowGateOptions {
  flow: FlowControl;
  queue: Queue;
  /** Retries of a delivery job (the schedule's length), for the jobs added at their promotion. */
  retries: number;
  redis: Redis;
  sql: Sql;
  metrics: WebhookMetrics;
  logger: Logger;
  /** How long after its job was queued a delivery may still be deferred; past it, it ends dead. */
  lastAllowedMs: number;
}

type Subscription = Pick<ActiveSubscription, 'id' | 'url' | 'maxInFlight' | 'rateLimitPerSecond'>;

/**
 * The delivery worker's door to flow control: `enter` before an attempt (go, or the job is deferred:
 * moved to BullMQ's delayed set without using a retry, parked when it waits for a slot or the
 * breaker), `leave` after it (frees the slot, moves the breaker, promotes parked jobs, publishes the
 * breaker's transitions). See docs/adr/0009-endpoint-isolation.md.
 */
export class FlowGate {
  private readonly options: FlowGateOptions & { adder: BulkAdder };

  constructor(options: FlowGateOptions) {
    this.options = { ...options, adder: new BulkAdder(options.queue) };
  }

  async enter(
    job: Job,
    token: string | undefined,
    sub: Subscription,
  ): Promise<'go' | 'deferred' | 'expired'> {
    const jobId = job.id ?? '';
    const admission = await this.options.flow.acquire(sub.id, jobId, sub);
    if (admission.kind === 'ok') return 'go';
    const now = Date.now();
    const deadline = job.timestamp + this.options.lastAllowedMs;
    if (now >= deadline) return 'expired';
    await job.moveToDelayed(Math.min(deadline, wakeAt(admission, now)), token);
    if (parks(admission)) {
      const promoted = await this.options.flow.park(sub.id, [jobId], sub.maxInFlight);
      await promoteJobs(this.options, sub.id, sub.maxInFlight, promoted);
    }
    this.options.metrics.deferred.inc({ reason: admission.kind });
    return 'deferred';
  }

  async leave(job: Job, sub: Subscription, verdict: Verdict): Promise<void> {
    const release = await this.options.flow.release(sub.id, job.id ?? '', verdict, sub.maxInFlight);
    if (release.transition === 'reopened') {
      await this.reschedule(sub.id, release.parked, release.nextProbeAt ?? Date.now());
    } else {
      await promoteJobs(this.options, sub.id, sub.maxInFlight, release.parked);
    }
    if (release.transition) await this.onTransition(sub, release);
  }

  /** The job taken from the line to wait for the next probe: delayed until then. */
  private async reschedule(subscriptionId: string, parked: Parked[], at: number): Promise<void> {
    const delay = Math.max(0, at - Date.now());
    await addParked(this.options, parked, delay);
    await Promise.all(
      parked
        .filter((job) => job.parkedAt === null)
        .map(({ jobId }) =>
          new BullJob(this.options.queue, DELIVER_JOB, {}, {}, jobId)
            .changeDelay(delay)
            .catch((error: unknown) =>
              this.options.logger.debug({ jobId, err: error }, 'parked job not rescheduled'),
            ),
        ),
    );
    await this.options.flow.confirm(subscriptionId, parked);
  }

  private async onTransition(sub: Subscription, release: Release): Promise<void> {
    const { metrics, logger, redis, sql } = this.options;
    metrics.circuitTransitions.inc({ transition: release.transition });
    logger.warn(
      { subscriptionId: sub.id, url: sub.url, ...release, jobIds: undefined },
      `circuit breaker ${release.transition}`,
    );
    if (release.transition === 'opened') {
      await redis.zadd(CIRCUITS_KEY, Date.now(), sub.id);
      await enqueueEvents(sql, [
        buildSystemEvent('webhook.subscription.circuit_opened', {
          subscription_id: sub.id,
          url: sub.url,
          consecutive_failures: release.failures,
          next_probe_at: new Date(release.nextProbeAt ?? Date.now()).toISOString(),
        }),
      ]);
    } else if (release.transition === 'closed') {
      const openedAt = await redis.zscore(CIRCUITS_KEY, sub.id);
      await redis.zrem(CIRCUITS_KEY, sub.id);
      await enqueueEvents(sql, [
        buildSystemEvent('webhook.subscription.circuit_closed', {
          subscription_id: sub.id,
          url: sub.url,
          opened_at: openedAt ? new Date(Number(openedAt)).toISOString() : null,
        }),
      ]);
    }
  }
}

/**
 * Parked jobs to run now. One parked at enqueue gets its BullMQ job, created at the time it parked
 * (so its last allowed time is unchanged). One delayed in BullMQ is promoted; if it is not delayed
 * any more (its fallback fired, or it ended) it would hold its admitted place for nothing: it gives
 * the place back at once, which admits the next in line.
 */
export async function promoteJobs(
  deps: { flow: FlowControl; queue: Queue; retries: number; adder?: BulkAdder },
  subscriptionId: string,
  window: number,
  parked: Parked[],
): Promise<void> {
  if (parked.length === 0) return;
  await addParked(deps, parked, 0);
  await Promise.all(
    parked
      .filter((job) => job.parkedAt === null)
      .map(async ({ jobId }) => {
        try {
          await new BullJob(deps.queue, DELIVER_JOB, {}, {}, jobId).promote();
        } catch {
          const release = await deps.flow.release(subscriptionId, jobId, 'neutral', window);
          await promoteJobs(deps, subscriptionId, window, release.parked);
        }
      }),
  );
  await deps.flow.confirm(subscriptionId, parked);
}

type BulkJob = Parameters<Queue['addBulk']>[0][number];

/**
 * Adds jobs to a queue in one addBulk per turn of the event loop: the promotions of many attempts
 * that end together (one each) become one round trip, not one per attempt.
 */
export class BulkAdder {
  private pending: BulkJob[] = [];
  private flush: Promise<void> | undefined;

  constructor(private readonly queue: Queue) {}

  add(jobs: BulkJob[]): Promise<void> {
    this.pending.push(...jobs);
    this.flush ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const batch = this.pending;
        this.pending = [];
        this.flush = undefined;
        this.queue.addBulk(batch).then(() => resolve(), reject);
      });
    });
    return this.flush;
  }
}

/** The BullMQ jobs of those parked at enqueue, added (an id BullMQ holds is left as it is). */
async function addParked(
  deps: { queue: Queue; retries: number; adder?: BulkAdder },
  parked: Parked[],
  delay: number,
) {
  const jobs = parked.flatMap(({ jobId, parkedAt }) => {
    const data = parkedAt === null ? null : deliverJobOf(jobId);
    if (!data) return [];
    const opts = { ...deliverJobOptions(data, deps.retries), delay, timestamp: parkedAt ?? undefined };
    return [{ name: DELIVER_JOB, data, opts }];
  });
  if (jobs.length === 0) return;
  if (deps.adder) await deps.adder.add(jobs);
  else await deps.queue.addBulk(jobs);
}

/**
 * Every few seconds, for each subscription with a line: the pump script (promotions a lost release
 * would have made, a due probe nobody waits for, jobs parked past their last allowed time), and the
 * jobs it hands over are queued.
 */
export function pumpComponent(options: {
  flow: FlowControl;
  queue: Queue;
  retries: number;
  lastAllowedMs: number;
  /** The subscriptions' max_in_flight (their windows), by id; one missing no longer exists. */
  windowsOf: (subscriptionIds: readonly string[]) => Promise<Map<string, number>>;
  logger: Logger;
  intervalMs?: number;
}): Component {
  return periodicComponent({
    name: 'flow-pump',
    intervalMs: options.intervalMs ?? 5_000,
    logger: options.logger,
    failure: 'pumping parked deliveries failed',
    task: async () => {
      const lines = await options.flow.lines();
      const windows = await options.windowsOf(lines);
      for (const subscriptionId of lines) {
        const window = windows.get(subscriptionId);
        if (window === undefined) {
          await options.flow.forget(subscriptionId);
          continue;
        }
        const parked = await options.flow.pump(subscriptionId, window, options.lastAllowedMs);
        await promoteJobs(options, subscriptionId, window, parked);
      }
    },
  });
}

const parks = (admission: Exclude<Admission, { kind: 'ok' }>) =>
  admission.kind === 'in_flight' || (admission.kind === 'breaker' && admission.park);

/** When a deferred job runs again by itself: its rate slot, the probe time, or the park fallback. */
function wakeAt(admission: Exclude<Admission, { kind: 'ok' }>, now: number): number {
  if (admission.kind === 'rate') return admission.at;
  if (admission.kind === 'breaker' && !admission.park) return admission.probeAt;
  return now + PARK_FALLBACK_MS;
}

/**
 * How long after its job was queued a delivery may still be deferred: as long as its last retry
 * could have come without any deferral (the whole schedule at its longest jitter, plus one attempt),
 * and one longest breaker cool-down more, so that a delivery always outlives one breaker cycle.
 */
export function lastAllowedMs(policy: {
  schedule: readonly number[];
  jitter: number;
  timeoutMs: number;
  maxCooldownMs: number;
}): number {
  const schedule = policy.schedule.reduce((sum, seconds) => sum + seconds, 0) * 1_000;
  return Math.round(schedule * (1 + policy.jitter)) + policy.timeoutMs + policy.maxCooldownMs;
}

/** The breakers not closed, for the metrics: how many, and the state of the ten open the longest. */
export async function readCircuits(redis: Redis, flow: FlowControl) {
  const [count, ids] = await Promise.all([redis.zcard(CIRCUITS_KEY), redis.zrange(CIRCUITS_KEY, 0, 9)]);
  const circuits = await Promise.all(ids.map((id) => flow.circuit(id)));
  return {
    count,
    top: ids.flatMap((subscriptionId, i) => {
      const state = circuits[i]?.state;
      return state && state !== 'closed' ? [{ subscriptionId, state }] : [];
    }),
  };
}
