import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { v7 as uuidv7 } from 'uuid';
import type { FinalStatus } from '../../db/schema/webhooks.js';
import type { Logger } from '../../logger.js';
import type { FlowGate } from '../flow/gate.js';
import type { Verdict } from '../flow/model.js';
import type { WebhookMetrics } from '../metrics.js';
import { DeliverJobSchema } from '../queue/jobs.js';
import type { ActiveSubscription, SubscriptionIndex } from '../subscriptions/subscription-index.js';
import type { WebhookHttpClient } from './http-client.js';
import type { DeliveryContext, DeliveryLoader } from './loader.js';
import { type AttemptOutcome, decideAttempt, type RetryPolicy } from './policy.js';
import type { AttemptRecord, DeliveryRecorder } from './recorder.js';
import { blockedOutcome, webhookBody, webhookHeaders } from './request.js';
import { mayHaveReached, type UnrecordedSends } from './unrecorded.js';

/** A failed attempt that will be retried after `delayMs` (the schedule's, or the receiver's Retry-After). */
export class RetryLater extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'RetryLater';
  }
}

export interface JobProcessorDeps {
  loader: DeliveryLoader;
  recorder: DeliveryRecorder;
  unrecorded: UnrecordedSends;
  /** Per-subscription flow control: limits, fairness and the circuit breaker. */
  gate: FlowGate;
  index: SubscriptionIndex;
  http: WebhookHttpClient;
  metrics: WebhookMetrics;
  logger: Logger;
  retry: RetryPolicy;
}

const statusClass = (outcome: AttemptOutcome) =>
  outcome.kind === 'response' ? `${Math.floor(outcome.status / 100)}xx` : 'error';

/**
 * One delivery job, from its BullMQ job to its end: loads the delivery, asks flow control whether it
 * may go, POSTs it, frees its slot, records the attempt (durable before the job is acknowledged), and
 * ends the job as `decideAttempt` says: finished (2xx, or dead), or a RetryLater thrown so that BullMQ
 * runs it again after the delay.
 */
export class JobProcessor {
  constructor(private readonly options: JobProcessorDeps) {}

  async process(job: Job, token?: string): Promise<string> {
    const parsed = DeliverJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid delivery job: ${parsed.error.message}`);
    const { deliveryId, generation } = parsed.data;
    const context = await this.options.loader.load(deliveryId);
    if (!context) return 'gone'; // pruned or its subscription deleted
    const subscription =
      this.options.index.get(context.subscriptionId) ??
      (await this.options.index.fetch(context.subscriptionId));
    if (context.generation !== generation || context.status === 'succeeded' || context.status === 'dead') {
      if (subscription) await this.leave(job, subscription, 'neutral');
      return 'stale';
    }
    if (!subscription?.enabled) {
      await this.recordUnattempted(
        context,
        'subscription_disabled',
        'the subscription is disabled; recover the delivery after enabling it',
      );
      if (subscription) await this.leave(job, subscription, 'neutral');
      return 'dead';
    }
    const entry = await this.options.gate.enter(job, token, subscription);
    if (entry === 'deferred') throw new DelayedError();
    if (entry === 'expired') {
      await this.recordUnattempted(
        context,
        'deferred_too_long',
        'flow control (max_in_flight, rate limit or circuit breaker) held it past its last allowed time; recover it',
      );
      await this.leave(job, subscription, 'neutral');
      return 'dead';
    }
    // The slot is freed as soon as the receiver has answered (or not), while the attempt is
    // recorded: max_in_flight bounds requests at the receiver, the next job need not wait for the
    // recorder's batch, and this job's worker slot waits for the release and the recording at once.
    // Freed once, whatever happens; the job ends only after its release.
    let releasing: Promise<void> | undefined;
    const release = (verdict: Verdict) => {
      releasing ??= this.leave(job, subscription, verdict);
    };
    let result: FinalStatus | RetryLater;
    try {
      result = await this.attempt(job, context, subscription, release);
    } finally {
      release('neutral');
      await releasing;
    }
    if (result instanceof RetryLater) throw result;
    return result;
  }

  /** Frees the flow-control slot; a Redis failure here is logged (the lease expires by itself). */
  private async leave(job: Job, subscription: ActiveSubscription, verdict: Verdict): Promise<void> {
    await this.options.gate
      .leave(job, subscription, verdict)
      .catch((error: unknown) =>
        this.options.logger.error({ jobId: job.id, err: error }, 'could not release a flow-control slot'),
      );
  }

  /** A delivery that ends dead without being sent (disabled subscription, deferred too long). */
  private async recordUnattempted(
    context: DeliveryContext,
    errorKind: string,
    errorMessage: string,
  ): Promise<void> {
    await this.options.recorder.record({
      ...this.baseRecord(context, context.attempts + 1, new Date()),
      errorKind,
      errorMessage,
      status: 'dead',
    });
    // Recorded as an attempt that got no answer, like every other attempt row.
    this.options.metrics.attempts.inc({ status_class: 'error' });
    this.options.metrics.deliveries.inc({ outcome: 'dead' satisfies FinalStatus });
  }

  /**
   * Sends one attempt, hands its verdict to `release` once the receiver has answered, and records it
   * with the step `decideAttempt` gives: 'succeeded' or 'dead', or a RetryLater to throw.
   */
  private async attempt(
    job: Job,
    context: DeliveryContext,
    subscription: ActiveSubscription,
    release: (verdict: Verdict) => void,
  ): Promise<FinalStatus | RetryLater> {
    const startedAt = new Date();
    const blocked = blockedOutcome(subscription);
    if (!blocked) await this.countEarlierSends(job, context);
    const outcome = blocked ?? (await this.send(context, subscription));
    const decision = decideAttempt(
      outcome,
      { retry: job.attemptsMade + 1, isLast: job.attemptsMade + 1 >= (job.opts.attempts ?? 1) },
      this.options.retry,
    );
    this.observe(outcome, decision.sent);
    release(decision.verdict);
    const { status, delayMs } = decision;
    await this.recordSent(
      outcome,
      {
        ...this.baseRecord(context, context.attempts + 1, startedAt),
        durationMs: outcome.durationMs,
        statusCode: outcome.kind === 'response' ? outcome.status : null,
        errorKind: outcome.kind === 'error' ? outcome.errorKind : null,
        errorMessage: outcome.kind === 'error' ? outcome.message : null,
        responseExcerpt: outcome.kind === 'response' ? outcome.excerpt : null,
        status,
        nextAttemptAt: delayMs === null ? null : new Date(Date.now() + delayMs),
        gone: decision.gone,
        endpointHealth: decision.sent,
      },
      decision.sent,
    );
    this.options.metrics.deliveries.inc({ outcome: status });
    if (status === 'succeeded') {
      this.options.metrics.endToEnd.observe((Date.now() - Date.parse(context.event.occurred_at)) / 1_000);
    }
    if (status !== 'retrying') return status;
    return new RetryLater(decision.reason ?? 'failed', delayMs ?? 0);
  }

  private async send(context: DeliveryContext, subscription: ActiveSubscription): Promise<AttemptOutcome> {
    const body = webhookBody(context.event);
    const headers = webhookHeaders({
      eventId: context.event.id,
      body,
      secrets: subscription.secrets,
      custom: subscription.headers,
    });
    return this.options.http.post(subscription.url, headers, body);
  }

  /**
   * A delivery sent again whose earlier attempt may have reached the receiver unrecorded counts as a
   * duplicate send. Only a delivery that ran before can have been: a first run costs no Redis call.
   */
  private async countEarlierSends(job: Job, context: DeliveryContext): Promise<void> {
    const { generation } = job.data as { generation: number };
    if ((job.attemptsStarted ?? 1) <= 1 && generation === 0) return;
    const earlier = await this.options.unrecorded.take(context.id);
    if (!earlier) return;
    for (const [reason, count] of Object.entries(earlier))
      this.options.metrics.duplicateSends.inc({ reason }, count);
    this.options.logger.warn(
      { deliveryId: context.id, attempt: context.attempts + 1, earlier },
      'sending a delivery again whose earlier attempt may have reached the receiver unrecorded',
    );
  }

  private observe(outcome: AttemptOutcome, sent: boolean): void {
    const { metrics } = this.options;
    metrics.attempts.inc({ status_class: statusClass(outcome) });
    if (sent) metrics.attemptDuration.observe(outcome.durationMs / 1_000);
    if (outcome.kind === 'error' && outcome.errorKind === 'ssrf_blocked') metrics.ssrfRefusals.inc();
  }

  /**
   * Records the attempt; when that fails after the receiver may have got the request, the delivery is
   * marked so that its next run counts the send as a duplicate (UnrecordedSends), then the job fails
   * and BullMQ runs it again.
   */
  private async recordSent(outcome: AttemptOutcome, record: AttemptRecord, sent: boolean): Promise<void> {
    try {
      await this.options.recorder.record(record);
    } catch (error) {
      this.options.logger.error(
        { deliveryId: record.deliveryId, attempt: record.number, err: error },
        'could not record a delivery attempt: the delivery will run again',
      );
      if (sent && mayHaveReached(outcome)) {
        await this.options.unrecorded
          .mark(record.deliveryId, 'unrecorded')
          .catch((markError: unknown) =>
            this.options.logger.error(
              { deliveryId: record.deliveryId, err: markError },
              'could not mark an unrecorded attempt',
            ),
          );
      }
      throw error;
    }
  }

  private baseRecord(
    context: { id: string; subscriptionId: string },
    number: number,
    startedAt: Date,
  ): AttemptRecord {
    return {
      id: uuidv7(),
      deliveryId: context.id,
      subscriptionId: context.subscriptionId,
      number,
      startedAt,
      durationMs: 0,
      statusCode: null,
      errorKind: null,
      errorMessage: null,
      responseExcerpt: null,
      status: 'dead',
      nextAttemptAt: null,
      gone: false,
      // (a delivery to a disabled subscription counts as a failure of it, as before)
      endpointHealth: true,
    };
  }
}
