import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka, Message, Producer } from 'kafkajs';
import type { Sql } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { Component } from '../platform/component.js';
import type { OutboxMetrics } from './metrics.js';
import { OUTBOX_CHANNEL } from './outbox.js';

interface OutboxRow {
  id: string;
  topic: string;
  message_key: string;
  event_type: string;
  payload: unknown;
}

export interface OutboxRelayOptions {
  sql: Sql;
  kafka: Kafka;
  logger: Logger;
  metrics: OutboxMetrics;
  batchSize: number;
  pollIntervalMs: number;
  retentionHours: number;
}

/**
 * Publishes pending outbox rows to Kafka, oldest first, in batches: it claims a batch with
 * `FOR UPDATE SKIP LOCKED` (so several relays never publish the same row in normal operation), sends it
 * with an idempotent producer and acks=all, and marks the rows published in the same transaction. If
 * Kafka is down the batch rolls back and is retried with backoff; the API is not affected. A crash
 * between send and commit republishes the batch: consumers dedupe by event id.
 */
export class OutboxRelay implements Component {
  readonly name = 'outbox-relay';
  private readonly producer: Producer;
  private connected = false;
  private stopping = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private lastPrune = 0;

  constructor(private readonly options: OutboxRelayOptions) {
    this.producer = options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2_000 },
    });
  }

  async start(): Promise<void> {
    const listener = await this.options.sql.listen(OUTBOX_CHANNEL, () => this.wake?.());
    this.unlisten = () => listener.unlisten();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    await this.unlisten?.().catch(() => {});
    if (this.connected) await this.producer.disconnect().catch(() => {});
  }

  private async run(): Promise<void> {
    let backoff = 250;
    while (!this.stopping) {
      try {
        const published = await this.publishBatch();
        backoff = 250;
        await this.pruneIfDue();
        if (published < this.options.batchSize) await this.idle(this.options.pollIntervalMs);
      } catch (error) {
        this.options.metrics.publishErrors.inc();
        this.options.logger.warn(
          { err: error, retryInMs: backoff },
          'outbox relay: publishing failed; retrying',
        );
        await this.idle(backoff);
        backoff = Math.min(backoff * 2, 5_000);
      }
    }
  }

  /** Waits for a NOTIFY from a committed outbox write, the poll interval, or stop(). */
  private async idle(ms: number): Promise<void> {
    if (this.stopping) return;
    const controller = new AbortController();
    await Promise.race([
      new Promise<void>((resolve) => {
        this.wake = resolve;
      }),
      sleep(ms, undefined, { signal: controller.signal }).catch(() => {}),
    ]);
    controller.abort();
    this.wake = undefined;
  }

  /** Claims, sends and marks one batch; returns how many rows were published. */
  async publishBatch(): Promise<number> {
    let claimed: OutboxRow[] = [];
    try {
      return await this.options.sql.begin(async (tx) => {
        const rows = await tx<OutboxRow[]>`
          SELECT id, topic, message_key, event_type, payload FROM outbox
          WHERE published_at IS NULL ORDER BY id LIMIT ${this.options.batchSize}
          FOR UPDATE SKIP LOCKED`;
        claimed = rows;
        if (rows.length === 0) return 0;
        if (!this.connected) {
          await this.producer.connect();
          this.connected = true;
        }
        const byTopic = new Map<string, Message[]>();
        for (const row of rows) {
          const messages = byTopic.get(row.topic) ?? [];
          messages.push({
            key: row.message_key,
            value: JSON.stringify(row.payload),
            headers: { 'event-id': row.id, 'event-type': row.event_type },
          });
          byTopic.set(row.topic, messages);
        }
        await this.producer.sendBatch({
          acks: -1,
          topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
        });
        const ids = rows.map((row) => row.id);
        await tx`UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY(${ids}::uuid[])`;
        for (const [topic, messages] of byTopic)
          this.options.metrics.published.inc({ topic }, messages.length);
        return rows.length;
      });
    } catch (error) {
      if (claimed.length > 0) {
        const ids = claimed.map((row) => row.id);
        const message = error instanceof Error ? error.message : String(error);
        await this.options.sql`
          UPDATE outbox SET attempts = attempts + 1, last_error = ${message.slice(0, 1_000)}
          WHERE id = ANY(${ids}::uuid[])`.catch(() => {});
      }
      throw error;
    }
  }

  /** Deletes published rows older than the retention, a chunk at a time, at most once a minute. */
  private async pruneIfDue(): Promise<void> {
    if (Date.now() - this.lastPrune < 60_000) return;
    this.lastPrune = Date.now();
    const hours = this.options.retentionHours;
    const deleted = await this.options.sql`
      DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox
        WHERE published_at IS NOT NULL AND published_at < now() - make_interval(hours => ${hours})
        LIMIT 10000)`;
    if (deleted.count > 0)
      this.options.logger.info({ deleted: deleted.count }, 'outbox relay: pruned published rows');
  }
}
