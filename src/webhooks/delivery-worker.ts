import { type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import type { Sql } from '../db/client.js';
import type { Envelope } from '../events/catalog.js';
import { buildEvent, systemActor, systemMeta } from '../events/envelope.js';
import { enqueueEventsSql } from '../events/outbox.js';
import type { Logger } from '../logger.js';
import type { Component } from '../platform/component.js';
import {
  type AttemptRecord,
  DeliveryLoader,
  DeliveryRecorder,
  type DisabledSubscription,
} from './delivery-store.js';
import type { SendOutcome, WebhookHttpClient } from './http-client.js';
import type { WebhookMetrics } from './metrics.js';
import { DeliverJobSchema, retryDelayMs } from './queue.js';
import { signWebhook } from './signing.js';
import { notifySubscriptionsChanged, type SubscriptionIndex } from './subscription-index.js';

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

/** An attempt's outcome: what the endpoint answered, or why nothing was sent. */
type AttemptOutcome =
  | SendOutcome
  | { kind: 'error'; errorKind: 'secret_unavailable'; message: string; durationMs: number };

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

  constructor(private readonly options: DeliveryWorkerOptions) {
    this.loader = new DeliveryLoader(options.sql);
    this.recorder = new DeliveryRecorder(options.sql, {
      disableAfterSeconds: options.disableAfterSeconds,
      maxBatch: 500,
      onDisabled: (tx, disabled) => this.onDisabled(tx, disabled),
    });
    this.worker = new Worker(options.queueName, (job) => this.process(job), {
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
      buildEvent({
        type: 'webhook.subscription.disabled',
        userId: null,
        actor: systemActor,
        meta: systemMeta,
        data: {
          subscription_id: sub.id,
          url: sub.url,
          reason: sub.reason === 'gone' ? 'the endpoint answered 410 Gone' : 'deliveries kept failing',
          failing_since: sub.failingSince?.toISOString() ?? null,
        },
      }),
    );
    await enqueueEventsSql(tx, events);
    await notifySubscriptionsChanged(tx);
    for (const sub of disabled) this.options.metrics.subscriptionsDisabled.inc({ reason: sub.reason });
    this.options.logger.warn({ subscriptions: disabled }, 'disabled webhook subscriptions');
  }

  private async process(job: Job): Promise<string> {
    const parsed = DeliverJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid delivery job: ${parsed.error.message}`);
    const { deliveryId, generation } = parsed.data;
    const context = await this.loader.load(deliveryId);
    if (!context) return 'gone'; // pruned or its subscription deleted
    if (context.generation !== generation || context.status === 'succeeded' || context.status === 'dead') {
      return 'stale';
    }
    const number = context.attempts + 1;
    const isLast = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const startedAt = new Date();
    const subscription =
      this.options.index.get(context.subscriptionId) ??
      (await this.options.index.fetch(context.subscriptionId));

    if (!subscription?.enabled) {
      await this.recorder.record({
        ...this.baseRecord(context, number, startedAt),
        errorKind: 'subscription_disabled',
        errorMessage: 'the subscription is disabled; recover the delivery after enabling it',
        status: 'dead',
      });
      // Recorded as an attempt that got no answer, like every other attempt row.
      this.options.metrics.attempts.inc({ status_class: 'error' });
      this.options.metrics.deliveries.inc({ outcome: 'dead' });
      return 'dead';
    }

    const body = webhookBody(context.event);
    // Never send unsigned: without a readable secret the attempt fails, not sent, and is retried on
    // schedule; being the platform's failure, it says nothing of the endpoint (see endpointHealth).
    const sent = subscription.secrets.length > 0;
    const outcome: AttemptOutcome = !sent
      ? SECRET_UNAVAILABLE
      : await this.options.http.post(
          subscription.url,
          webhookHeaders({
            eventId: context.event.id,
            body,
            secrets: subscription.secrets,
            custom: subscription.headers,
          }),
          body,
        );
    this.options.metrics.attempts.inc({ status_class: statusClass(outcome) });
    if (sent) this.options.metrics.attemptDuration.observe(outcome.durationMs / 1_000);
    if (outcome.kind === 'error' && outcome.errorKind === 'ssrf_blocked')
      this.options.metrics.ssrfRefusals.inc();

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
    const status = succeeded ? 'succeeded' : gone || isLast ? 'dead' : 'retrying';
    await this.recorder.record({
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
    });
    this.options.metrics.deliveries.inc({ outcome: status });
    if (succeeded) {
      this.options.metrics.endToEnd.observe((Date.now() - Date.parse(context.event.occurred_at)) / 1_000);
      return 'succeeded';
    }
    if (status === 'dead') return 'dead';
    const why =
      outcome.kind === 'response' ? `answered ${outcome.status}` : `${outcome.errorKind}: ${outcome.message}`;
    throw new RetryLater(why, delayMs);
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
