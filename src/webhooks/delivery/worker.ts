import { type Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Sql } from '../../db/client.js';
import { buildSystemEvent } from '../../events/envelope.js';
import { enqueueEvents } from '../../events/outbox.js';
import type { Logger } from '../../logger.js';
import type { Component } from '../../platform/component.js';
import type { FlowGate } from '../flow/gate.js';
import type { WebhookMetrics } from '../metrics.js';
import { notifySubscriptionsChanged, type SubscriptionIndex } from '../subscriptions/subscription-index.js';
import type { WebhookHttpClient } from './http-client.js';
import { DeliveryLoader } from './loader.js';
import type { RetryPolicy } from './policy.js';
import { JobProcessor, RetryLater } from './process-job.js';
import { type AttemptRecord, DeliveryRecorder, type DisabledSubscription } from './recorder.js';
import { deliveryIdOfJob, UnrecordedSends } from './unrecorded.js';

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
  retry: RetryPolicy;
  disableAfterSeconds: number;
}

/**
 * The BullMQ worker options of delivery (the bench's no-op ceiling runs with the same): a worker
 * that dies mid-job loses its lock within 10 s (locks of live jobs are renewed), and the job is
 * handed to another worker at the next stalled check.
 */
export const deliveryWorkerSettings = { maxStalledCount: 5, lockDuration: 10_000, stalledInterval: 5_000 };

/**
 * The delivery process's BullMQ worker: `concurrency` jobs at once, each run by the JobProcessor;
 * stalled jobs (their worker died mid-attempt) run again, marked as possibly sent; attempts are
 * recorded by one group-commit recorder, which disables subscriptions by its rules.
 */
export class DeliveryWorker implements Component {
  readonly name = 'delivery';
  private readonly worker: Worker;
  private readonly recorder: DeliveryRecorder;
  private readonly unrecorded: UnrecordedSends;

  constructor(private readonly options: DeliveryWorkerOptions) {
    this.unrecorded = new UnrecordedSends(options.redis);
    this.recorder = new DeliveryRecorder(options.sql, {
      disableAfterSeconds: options.disableAfterSeconds,
      maxBatch: 500,
      onDisabled: (tx, disabled) => this.onDisabled(tx, disabled),
      onRefused: (record, error) => this.onRefused(record, error),
    });
    const processor = new JobProcessor({
      ...options,
      loader: new DeliveryLoader(options.sql),
      recorder: this.recorder,
      unrecorded: this.unrecorded,
    });
    this.worker = new Worker(options.queueName, (job, token) => processor.process(job, token), {
      connection: options.connection,
      concurrency: options.concurrency,
      autorun: false,
      ...deliveryWorkerSettings,
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
    void this.worker.run();
    await this.worker.waitUntilReady();
  }

  async stop(): Promise<void> {
    // close() lets active jobs finish (their attempts are recorded) and takes no new ones.
    await this.worker.close();
    await this.recorder.flush();
  }

  private onRefused(record: AttemptRecord, error: unknown): void {
    this.options.metrics.attemptsRefused.inc();
    this.options.logger.error(
      {
        deliveryId: record.deliveryId,
        subscriptionId: record.subscriptionId,
        attempt: record.number,
        err: error,
      },
      'the database refused an attempt as received: stored without the receiver’s text',
    );
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
    await enqueueEvents(tx, events);
    await notifySubscriptionsChanged(tx);
    for (const sub of disabled) this.options.metrics.subscriptionsDisabled.inc({ reason: sub.reason });
    this.options.logger.warn({ subscriptions: disabled }, 'disabled webhook subscriptions');
  }
}
