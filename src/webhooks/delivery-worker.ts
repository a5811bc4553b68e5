import { DelayedError, type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import type { Sql } from '../db/client.js';
import type { Envelope } from '../events/catalog.js';
import { buildSystemEvent } from '../events/envelope.js';
import { enqueueEventsSql } from '../events/outbox.js';
import type { Logger } from '../logger.js';
import type { Component } from '../platform/component.js';
import { unsendableHeader } from './custom-headers.js';
import {
  type AttemptRecord,
  type DeliveryContext,
  DeliveryLoader,
  DeliveryRecorder,
  type DisabledSubscription,
} from './delivery-store.js';
import type { Verdict } from './flow/flow-control.js';
import type { FlowGate } from './flow/gate.js';
import { verdictOf } from './flow/verdict.js';
import type { SendOutcome, WebhookHttpClient } from './http-client.js';
import type { WebhookMetrics } from './metrics.js';
import { DeliverJobSchema, retryDelayMs } from './queue.js';
import { signWebhook } from './signing.js';
import {
  type ActiveSubscription,
  notifySubscriptionsChanged,
  type SubscriptionIndex,
} from './subscription-index.js';

export const USER_AGENT = 'hookline-webhooks/0.1 (+https://www.standardwebhooks.com)';

/** A failed attempt that will be retried after `delayMs` (the schedule's, or the receiver's Retry-After). */
class RetryLater extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'RetryLater';
  }
}

export interface DeliveryWorkerOptions {
  queueName: string;
  connection: Redis;
  /** For the marks of attempts that may have reached their receiver unrecorded (see UnrecordedSends). */
  redis: Redis;
  /** Per-subscription flow control: limits, fairness and the circuit breaker. */
  gate: FlowGate;
  queue: Queue;
  sql: Sql;
  index: SubscriptionIndex;
  http: WebhookHttpClient;
  metrics: WebhookMetrics;
  logger: Logger;
  concurrency: number;
  schedule: readonly number[];
  jitter: number;
  maxRetryAfterSeconds: number;
  disableAfterSeconds: number;
}

/**
 * The body of a webhook: Standard Webhooks' `type`, `timestamp` and `data`, plus whom the event is
 * about (`user_id`) and who did it (`actor`), without which a receiver could not tell, say, whose
 * profile changed. The request's IP and user agent are not sent to receivers.
 */
export function webhookBody(
  event: Pick<Envelope, 'type' | 'occurred_at' | 'user_id' | 'actor' | 'data'>,
): string {
  return JSON.stringify({
    type: event.type,
    timestamp: event.occurred_at,
    user_id: event.user_id,
    actor: event.actor,
    data: event.data,
  });
}

/** Signed Standard Webhooks headers for one attempt; custom headers cannot override them. */
export function webhookHeaders(input: {
  eventId: string;
  body: string;
  secrets: readonly string[];
  custom: Record<string, string>;
  now?: number;
}): Record<string, string> {
  const timestamp = Math.floor((input.now ?? Date.now()) / 1_000);
  return {
    ...input.custom,
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': input.eventId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook({
      id: input.eventId,
      timestamp,
      body: input.body,
      secrets: input.secrets,
    }),
  };
}

/** The delivery id of a job id (`deliveryId` or `deliveryId.generation`). */
const deliveryIdOfJob = (jobId: string) => jobId.split('.')[0] ?? jobId;

/** Whether the receiver may have got the request: it answered, or the connection broke after sending. */
const mayHaveReached = (outcome: AttemptOutcome) =>
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

/** An attempt's outcome: what the endpoint answered, or why nothing was sent. */
type AttemptOutcome =
  | SendOutcome
  | {
      kind: 'error';
      errorKind: 'secret_unavailable' | 'invalid_header';
      message: string;
      durationMs: number;
    };

const SECRET_UNAVAILABLE: AttemptOutcome = {
  kind: 'error',
  errorKind: 'secret_unavailable',
  message: 'the signing secret cannot be decrypted: WEBHOOK_SECRETS_KEYS does not list its key',
  durationMs: 0,
};

const statusClass = (outcome: AttemptOutcome) =>
  outcome.kind === 'response' ? `${Math.floor(outcome.status / 100)}xx` : 'error';

/**
 * BullMQ delivery workers: each job POSTs one delivery to its subscription, records the attempt (group
 * commit, durable before the job is acknowledged), and either finishes (2xx, or dead), or throws
 * `RetryLater` so BullMQ retries it after the schedule's delay. 3xx is a failure (redirects are not
 * followed); 410 disables the subscription; 429 and 503 honour Retry-After (clamped).
 */
export class DeliveryWorker implements Component {
  readonly name = 'delivery';
  private readonly worker: Worker;
  private readonly loader: DeliveryLoader;
  private readonly recorder: DeliveryRecorder;
  private readonly unrecorded: UnrecordedSends;
  private readonly gate: FlowGate;

  constructor(private readonly options: DeliveryWorkerOptions) {
    this.loader = new DeliveryLoader(options.sql);
    this.unrecorded = new UnrecordedSends(options.redis);
    this.recorder = new DeliveryRecorder(options.sql, {
      disableAfterSeconds: options.disableAfterSeconds,
      maxBatch: 500,
      onDisabled: (tx, disabled) => this.onDisabled(tx, disabled),
      onRefused: (record, error) => {
        options.metrics.attemptsRefused.inc();
        options.logger.error(
          {
            deliveryId: record.deliveryId,
            subscriptionId: record.subscriptionId,
            attempt: record.number,
            err: error,
          },
          'the database refused an attempt as received: stored without the receiver’s text',
        );
      },
    });
    this.gate = options.gate;
    this.worker = new Worker(options.queueName, (job, token) => this.process(job, token), {
      connection: options.connection,
      concurrency: options.concurrency,
      autorun: false,
      maxStalledCount: 5,
      // A worker that dies mid-job loses its lock within 10 s (locks of live jobs are renewed), and
      // the job is handed to another worker at the next stalled check.
      lockDuration: 10_000,
      stalledInterval: 5_000,
      settings: {
        backoffStrategy: (_attemptsMade: number, _type?: string, error?: Error) =>
          error instanceof RetryLater ? error.delayMs : 1_000,
      },
    });
    this.worker.on('error', (error) => options.logger.error({ err: error }, 'delivery worker error'));
    this.worker.on('failed', (job, error) => {
      const ids = { deliveryId: job?.data?.deliveryId, generation: job?.data?.generation, jobId: job?.id };
      if (error instanceof RetryLater) {
        options.logger.debug(
          { ...ids, delayMs: error.delayMs, reason: error.message },
          'delivery will be retried',
        );
      } else {
        options.logger.error({ ...ids, attemptsMade: job?.attemptsMade, err: error }, 'delivery job failed');
      }
    });
    // A job whose worker died (or lost its lock) mid-attempt runs again: its attempt may have been sent.
    this.worker.on('stalled', (jobId) => {
      options.logger.warn({ jobId }, 'delivery job stalled: it runs again');
      void this.unrecorded
        .mark(deliveryIdOfJob(jobId), 'stalled')
        .catch((error: unknown) =>
          options.logger.error({ jobId, err: error }, 'could not mark a stalled delivery'),
        );
    });
  }

  async start(): Promise<void> {
    await this.options.index.start();
    void this.worker.run();
    await this.worker.waitUntilReady();
  }

  async stop(): Promise<void> {
    // close() lets active jobs finish (their attempts are recorded) and takes no new ones.
    await this.worker.close();
    await this.recorder.flush();
    await this.options.index.stop();
  }

  private async onDisabled(tx: Sql, disabled: DisabledSubscription[]): Promise<void> {
    const events = disabled.map((sub) =>
      buildSystemEvent('webhook.subscription.disabled', {
        subscription_id: sub.id,
        url: sub.url,
        reason: sub.reason === 'gone' ? 'the endpoint answered 410 Gone' : 'deliveries kept failing',
        failing_since: sub.failingSince?.toISOString() ?? null,
      }),
    );
    await enqueueEventsSql(tx, events);
    await notifySubscriptionsChanged(tx);
    for (const sub of disabled) this.options.metrics.subscriptionsDisabled.inc({ reason: sub.reason });
    this.options.logger.warn({ subscriptions: disabled }, 'disabled webhook subscriptions');
  }

  private async process(job: Job, token?: string): Promise<string> {
    const parsed = DeliverJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid delivery job: ${parsed.error.message}`);
    const { deliveryId, generation } = parsed.data;
    const context = await this.loader.load(deliveryId);
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
    const entry = await this.gate.enter(job, token, subscription);
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
    let result: 'succeeded' | 'dead' | RetryLater;
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
    await this.gate
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
    await this.recorder.record({
      ...this.baseRecord(context, context.attempts + 1, new Date()),
      errorKind,
      errorMessage,
      status: 'dead',
    });
    // Recorded as an attempt that got no answer, like every other attempt row.
    this.options.metrics.attempts.inc({ status_class: 'error' });
    this.options.metrics.deliveries.inc({ outcome: 'dead' });
  }

  /**
   * Sends one attempt, hands its verdict to `release` once the receiver has answered, and records it:
   * 'succeeded' or 'dead', or a RetryLater to throw.
   */
  private async attempt(
    job: Job,
    context: DeliveryContext,
    subscription: ActiveSubscription,
    release: (verdict: Verdict) => void,
  ): Promise<'succeeded' | 'dead' | RetryLater> {
    const { deliveryId, generation } = job.data as { deliveryId: string; generation: number };
    const number = context.attempts + 1;
    const isLast = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    // Only a delivery that ran before can have been sent without being recorded: a first run costs
    // no Redis call.
    const earlierUnrecorded =
      (job.attemptsStarted ?? 1) > 1 || generation > 0 ? await this.unrecorded.take(deliveryId) : undefined;
    const startedAt = new Date();
    const body = webhookBody(context.event);
    // Never send unsigned: without a readable secret the attempt fails, not sent, and is retried on
    // schedule; being the platform's failure, it says nothing of the endpoint (see endpointHealth).
    // Nor with a custom header that cannot be sent (stored before the rule existed): undici would
    // refuse it, and count every refusal against the origin's connections for good.
    const unsendable = unsendableHeader(subscription.headers);
    const blocked: AttemptOutcome | undefined =
      subscription.secrets.length === 0
        ? SECRET_UNAVAILABLE
        : unsendable
          ? {
              kind: 'error',
              errorKind: 'invalid_header',
              message: `${unsendable}: fix the subscription's headers, then recover the delivery`,
              durationMs: 0,
            }
          : undefined;
    const sent = blocked === undefined;
    if (sent && earlierUnrecorded) {
      for (const [reason, count] of Object.entries(earlierUnrecorded))
        this.options.metrics.duplicateSends.inc({ reason }, count);
      this.options.logger.warn(
        { deliveryId, attempt: number, earlier: earlierUnrecorded },
        'sending a delivery again whose earlier attempt may have reached the receiver unrecorded',
      );
    }
    const outcome: AttemptOutcome =
      blocked ??
      (await this.options.http.post(
        subscription.url,
        webhookHeaders({
          eventId: context.event.id,
          body,
          secrets: subscription.secrets,
          custom: subscription.headers,
        }),
        body,
      ));
    this.options.metrics.attempts.inc({ status_class: statusClass(outcome) });
    if (sent) this.options.metrics.attemptDuration.observe(outcome.durationMs / 1_000);
    if (outcome.kind === 'error' && outcome.errorKind === 'ssrf_blocked')
      this.options.metrics.ssrfRefusals.inc();
    release(verdictOf(!sent ? { kind: 'not_sent' } : outcome));

    const succeeded = outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300;
    const gone = outcome.kind === 'response' && outcome.status === 410;
    const honourRetryAfter =
      outcome.kind === 'response' && (outcome.status === 429 || outcome.status === 503);
    const delayMs = retryDelayMs({
      schedule: this.options.schedule,
      retry: job.attemptsMade + 1,
      jitter: this.options.jitter,
      retryAfterSeconds: honourRetryAfter ? outcome.retryAfterSeconds : undefined,
      maxRetryAfterSeconds: this.options.maxRetryAfterSeconds,
    });
    // (no retry can send a header that cannot be sent)
    const status = succeeded ? 'succeeded' : gone || isLast || unsendable ? 'dead' : 'retrying';
    await this.recordSent(
      outcome,
      {
        ...this.baseRecord(context, number, startedAt),
        durationMs: outcome.durationMs,
        statusCode: outcome.kind === 'response' ? outcome.status : null,
        errorKind: outcome.kind === 'error' ? outcome.errorKind : null,
        errorMessage: outcome.kind === 'error' ? outcome.message : null,
        responseExcerpt: outcome.kind === 'response' ? outcome.excerpt : null,
        status,
        nextAttemptAt: status === 'retrying' ? new Date(Date.now() + delayMs) : null,
        gone,
        endpointHealth: sent,
      },
      sent,
    );
    this.options.metrics.deliveries.inc({ outcome: status });
    if (succeeded) {
      this.options.metrics.endToEnd.observe((Date.now() - Date.parse(context.event.occurred_at)) / 1_000);
      return 'succeeded';
    }
    if (status === 'dead') return 'dead';
    const why =
      outcome.kind === 'response' ? `answered ${outcome.status}` : `${outcome.errorKind}: ${outcome.message}`;
    return new RetryLater(why, delayMs);
  }

  /**
   * Records the attempt; when that fails after the receiver may have got the request, the delivery is
   * marked so that its next run counts the send as a duplicate (UnrecordedSends), then the job fails
   * and BullMQ runs it again.
   */
  private async recordSent(outcome: AttemptOutcome, record: AttemptRecord, sent: boolean): Promise<void> {
    try {
      await this.recorder.record(record);
    } catch (error) {
      this.options.logger.error(
        { deliveryId: record.deliveryId, attempt: record.number, err: error },
        'could not record a delivery attempt: the delivery will run again',
      );
      if (sent && mayHaveReached(outcome)) {
        await this.unrecorded
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
