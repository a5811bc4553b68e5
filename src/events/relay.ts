import { setTimeout as sleep } from 'node:timers/promises';
import { type Kafka, type Message, Partitioners, type Producer } from 'kafkajs';
import type { Sql } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { Component } from '../platform/component.js';
import { DeadlineError, withDeadline } from '../platform/deadline.js';
import type { OutboxMetrics } from './metrics.js';
import { OUTBOX_CHANNEL } from './outbox.js';
import { SentPartitions } from './sent-partitions.js';

interface OutboxRow {
  id: string;
  topic: string;
  message_key: string;
  event_type: string;
  payload: unknown;
  attempts: number;
}

/** How long a claimed batch belongs to its relay. */
const LEASE_SECONDS = 15;
/** Once the oldest pending row has failed this often, batches shrink to that row alone. */
const ISOLATE_AFTER_ATTEMPTS = 3;
/** A row Kafka keeps refusing for itself is set aside after this many attempts. */
const MAX_ROW_ATTEMPTS = 10;
/** Batches failed in a row before the relay makes its Kafka producer anew. */
const RESET_PRODUCER_AFTER = 3;
/** A send not answered within this is failed (kafkajs's own request timeout is 30 s). */
const SEND_DEADLINE_MS = 40_000;
const CONNECT_DEADLINE_MS = 15_000;

export interface OutboxRelayOptions {
  sql: Sql;
  kafka: Kafka;
  logger: Logger;
  metrics: OutboxMetrics;
  batchSize: number;
  pollIntervalMs: number;
  retentionHours: number;
  /** How long a send may go unanswered before the batch fails (default 40 s). */
  sendDeadlineMs?: number;
}

/**
 * Publishes pending outbox rows to Kafka, oldest first, in batches: it leases a batch with
 * `FOR UPDATE SKIP LOCKED` (so several relays never publish the same row in normal operation), sends it
 * with an idempotent producer and acks=all, and marks the rows published. If Kafka is down the lease
 * is released and the batch retried with backoff; the API is not affected. A crash between send and
 * mark republishes the batch: consumers dedupe by event id.
 */
export class OutboxRelay implements Component {
  readonly name = 'outbox-relay';
  private producer: Producer;
  /** Batches failed in a row; at RESET_PRODUCER_AFTER the producer is made anew. */
  private failuresInARow = 0;
  private readonly sentPartitions: SentPartitions;
  private connected = false;
  private stopping = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private lastPrune = 0;
  /**
   * The last batch was acknowledged: rows that failed before failed with Kafka, not for themselves,
   * so batches stay whole. Cleared by a failure, after which the oldest row goes alone once it has
   * failed ISOLATE_AFTER_ATTEMPTS times.
   */
  private kafkaAnswering = true;
  /** The size of the batch last claimed: a batch that fills it is followed at once by the next. */
  private lastLimit = 0;

  constructor(private readonly options: OutboxRelayOptions) {
    this.producer = this.newProducer();
    this.sentPartitions = new SentPartitions(async () => {
      const admin = options.kafka.admin();
      await admin.connect();
      return admin;
    });
  }

  private newProducer(): Producer {
    return this.options.kafka.producer({
      // The Java client's partitioner (murmur2 of the key): per-user order on one partition.
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2_000 },
    });
  }

  /**
   * After RESET_PRODUCER_AFTER failed batches in a row, or one send that never ended, a new producer (a
   * new producer id, sequences from zero): kafkajs's idempotent producer can be left out of step with a
   * partition's new leader after a broker dies, and then fail every send to it, or hang (measured on the
   * three-broker test: the relay waited for ever on a send after a leader was killed). Sends that may have reached Kafka before are sent
   * again, as after any failure: consumers drop duplicates by event id.
   */
  private afterFailure(error: unknown): void {
    this.failuresInARow += 1;
    const hung = error instanceof DeadlineError;
    if (!hung && this.failuresInARow < RESET_PRODUCER_AFTER) return;
    this.options.logger.warn({ failures: this.failuresInARow }, 'outbox relay: a new Kafka producer');
    this.failuresInARow = 0;
    const old = this.producer;
    this.producer = this.newProducer();
    this.connected = false;
    // Not awaited: a producer that hung may never finish disconnecting either.
    void old.disconnect().catch(() => {});
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
    await this.sentPartitions.close();
  }

  private async run(): Promise<void> {
    let backoff = 250;
    while (!this.stopping) {
      try {
        const published = await this.publishBatch();
        backoff = 250;
        await this.pruneIfDue();
        if (published < this.lastLimit || published === 0) await this.idle(this.options.pollIntervalMs);
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

  /**
   * Claims a batch with a lease (a short transaction), sends it outside any transaction, then marks it
   * published. A relay that dies mid-send loses its lease after LEASE_SECONDS and another one resends
   * the rows (consumers dedupe by event id). While the oldest pending row keeps failing, batches shrink
   * to that one row, so a row Kafka refuses for itself cannot hold back the others: after
   * MAX_ROW_ATTEMPTS such refusals it is set aside (`dead_at`), kept and reported, never dropped.
   */
  async publishBatch(): Promise<number> {
    const rows = await this.claim();
    if (rows.length === 0) return 0;
    const ids = rows.map((row) => row.id);
    try {
      if (!this.connected) {
        // An idempotent producer's connect asks the transaction coordinator for its id, and hung there
        // after a leader was killed (the three-broker test): it has a deadline too.
        await withDeadline(this.producer.connect(), CONNECT_DEADLINE_MS, 'connecting to Kafka');
        this.connected = true;
      }
      const byTopic = messagesByTopic(rows);
      // Each message's partition, chosen once here (kafkajs's partitioner keeps a given one).
      await this.sentPartitions.assign(byTopic);
      const acknowledged = await withDeadline(
        this.producer.sendBatch({
          acks: -1,
          topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
        }),
        this.options.sendDeadlineMs ?? SEND_DEADLINE_MS,
        'sending the batch to Kafka',
      );
      const missing = this.sentPartitions.missing(byTopic, acknowledged);
      if (missing.length > 0) {
        throw new Error(`Kafka acknowledged no write to ${missing.join(', ')}: the batch is sent again`);
      }
      await this.options.sql`
        UPDATE outbox SET published_at = now(), claimed_until = NULL, attempts = attempts + 1
        WHERE id = ANY(${ids}::uuid[])`;
      for (const [topic, messages] of byTopic) this.options.metrics.published.inc({ topic }, messages.length);
      this.failuresInARow = 0;
      this.kafkaAnswering = true;
      return rows.length;
    } catch (error) {
      this.kafkaAnswering = false;
      await this.failed(rows, error);
      this.afterFailure(error);
      throw error;
    }
  }

  /** The next batch, leased: the oldest rows no live relay holds (one row while the oldest keeps failing). */
  private async claim(): Promise<OutboxRow[]> {
    const { sql } = this.options;
    const [oldest] = await sql<{ attempts: number }[]>`
      SELECT attempts FROM outbox WHERE published_at IS NULL AND dead_at IS NULL ORDER BY id LIMIT 1`;
    if (!oldest) return [];
    // Alone only while sends keep failing: after an outage every row of the batches that failed has
    // ISOLATE_AFTER_ATTEMPTS or more, and sending them one at a time (a poll interval apart) once Kafka
    // was back published one row a second (the three-broker test: 120 rows in two minutes).
    const isolate = !this.kafkaAnswering && oldest.attempts >= ISOLATE_AFTER_ATTEMPTS;
    const limit = isolate ? 1 : this.options.batchSize;
    this.lastLimit = limit;
    const rows = await sql<OutboxRow[]>`
      UPDATE outbox SET claimed_until = now() + make_interval(secs => ${LEASE_SECONDS})
      WHERE id IN (
        SELECT id FROM outbox
        WHERE published_at IS NULL AND dead_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
        ORDER BY id LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)
      RETURNING id, topic, message_key, event_type, payload, attempts`;
    return rows.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** A failed send: counted on its rows; a lone row Kafka refuses for itself is set aside at last. */
  private async failed(rows: OutboxRow[], error: unknown): Promise<void> {
    const ids = rows.map((row) => row.id);
    const message = (error instanceof Error ? error.message : String(error)).slice(0, 1_000);
    // Kafka's own verdict on the message (not an outage): retrying the same bytes cannot help.
    const refusedForItself = rows.length === 1 && (error as { retriable?: boolean }).retriable === false;
    const setAside = refusedForItself && (rows[0]?.attempts ?? 0) + 1 >= MAX_ROW_ATTEMPTS;
    await this.options.sql`
      UPDATE outbox SET attempts = attempts + 1, last_error = ${message}, claimed_until = NULL,
        dead_at = CASE WHEN ${setAside} THEN now() ELSE NULL END
      WHERE id = ANY(${ids}::uuid[])`.catch(() => {});
    if (setAside) {
      this.options.metrics.deadRows.inc();
      this.options.logger.error(
        { eventId: ids[0], error: message },
        'outbox relay: Kafka refuses this event; set aside',
      );
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

/** The rows as Kafka messages (the event id and type as headers), by topic. */
function messagesByTopic(rows: OutboxRow[]): Map<string, Message[]> {
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
  return byTopic;
}
