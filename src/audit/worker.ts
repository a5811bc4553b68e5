import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { chUtcDateTime } from '../clickhouse/sql.js';
import type { Envelope } from '../events/catalog.js';
import { type EventChunk, eventConsumer } from '../events/consume.js';
import type { Logger } from '../logger.js';
import { metricNames } from '../metrics/names.js';
import { type Component, periodicComponent } from '../platform/component.js';
import { migrateClickHouse } from './migrations.js';
import { type AuditRow, auditRow } from './rows.js';

export interface AuditWorkerOptions {
  kafka: Kafka;
  clickhouse: ClickHouseClient;
  database: string;
  groupId: string;
  topics: readonly string[];
  batchSize: number;
  flushMs: number;
  truncateIp: boolean;
  retentionDays: number;
  logger: Logger;
  registry: Registry;
  /** Called with each batch's rows, as stored, once they are (the detector of suspicious activity). */
  afterInsert?: (rows: readonly AuditRow[]) => Promise<void>;
}

interface Pending {
  rows: AuditRow[];
  done: Promise<void>;
  resolve: () => void;
}

/**
 * The audit worker: its own consumer group on the event topics. Batches from every partition are
 * buffered together and inserted into ClickHouse in one insert when `batchSize` rows are waiting or
 * `flushMs` has passed; each partition's offsets are committed only after ClickHouse acknowledged the
 * insert holding its messages. If ClickHouse is down the insert is retried with backoff, forever,
 * so nothing is skipped; redelivered events collapse by event id (ReplacingMergeTree).
 */
export class AuditWorker implements Component {
  readonly name = 'audit';
  private readonly consumer: ReturnType<typeof eventConsumer>;
  private pending: Pending = this.newPending();
  private timer: NodeJS.Timeout | undefined;
  private readonly metrics;

  constructor(private readonly options: AuditWorkerOptions) {
    this.retention = periodicComponent({
      name: 'audit-retention',
      intervalMs: 6 * 3_600_000,
      task: () => this.prune(),
      logger: options.logger,
      failure: 'audit: pruning failed',
    });
    this.consumer = eventConsumer({
      kafka: options.kafka,
      groupId: options.groupId,
      topics: options.topics,
      consumer: { sessionTimeout: 15_000, heartbeatInterval: 3_000 },
      partitionsAtOnce: 6,
      // A partition's whole batch joins the buffer shared by every partition, stored in one insert.
      chunkSize: Number.POSITIVE_INFINITY,
      handle: (chunk) => this.handle(chunk),
      onInvalid: () => this.metrics.invalid.inc(),
      logger: options.logger,
      name: 'audit',
      registry: options.registry,
    });
    this.metrics = {
      invalid: new Counter({
        name: metricNames.auditInvalidEvents,
        help: 'Messages on the event topics that are not valid events (skipped).',
        registers: [options.registry],
      }),
      inserted: new Counter({
        name: metricNames.auditRowsInserted,
        help: 'Audit rows inserted into ClickHouse.',
        registers: [options.registry],
      }),
      insertErrors: new Counter({
        name: metricNames.auditInsertErrors,
        help: 'Failed ClickHouse inserts (retried until they succeed).',
        registers: [options.registry],
      }),
      buffered: new Gauge({
        name: metricNames.auditBufferedRows,
        help: 'Rows waiting to be inserted.',
        registers: [options.registry],
        collect: () => undefined,
      }),
    };
  }

  private newPending(): Pending {
    let resolve = () => {};
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    return { rows: [], done, resolve };
  }

  /** Deletes old rows every 6 hours. */
  private readonly retention: Component;

  /** Deletes rows older than the retention (a mutation; valid on 18.16 and current releases). */
  async prune(now: Date = new Date()): Promise<void> {
    const cutoff = now.getTime() - this.options.retentionDays * 86_400_000;
    await this.options.clickhouse.command({
      query: `ALTER TABLE ${this.options.database}.audit_events DELETE WHERE occurred_at < ${chUtcDateTime(cutoff)}`,
    });
  }

  async start(): Promise<void> {
    await migrateClickHouse(this.options.clickhouse, this.options.database, this.options.logger);
    await this.retention.start();
    await this.consumer.start();
  }

  /** Buffers a chunk's rows and resolves once the insert holding them is acknowledged. */
  private async handle({ events, heartbeat }: EventChunk): Promise<void> {
    if (events.length === 0) return;
    const pending = this.pending;
    for (const event of events) this.buffer(pending, event);
    this.metrics.buffered.set(pending.rows.length);
    if (pending.rows.length >= this.options.batchSize) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs);
    // Wait for the insert that holds these rows, heartbeating so the group keeps this member.
    let stored = false;
    void pending.done.then(() => {
      stored = true;
    });
    while (!stored) {
      await Promise.race([pending.done, sleep(2_000)]);
      if (!stored) await heartbeat();
    }
  }

  private buffer(pending: Pending, event: Envelope): void {
    try {
      pending.rows.push(auditRow(event, { truncateIp: this.options.truncateIp }));
    } catch (error) {
      this.metrics.invalid.inc();
      this.options.logger.error(
        { err: error, eventId: event.id },
        'audit: skipping an event it cannot store',
      );
    }
  }

  /** Inserts what is buffered, retrying with backoff until ClickHouse takes it. */
  private async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const pending = this.pending;
    this.pending = this.newPending();
    if (pending.rows.length === 0) {
      pending.resolve();
      return;
    }
    let delay = 250;
    for (;;) {
      try {
        await this.options.clickhouse.insert({
          table: `${this.options.database}.audit_events`,
          format: 'JSONEachRow',
          values: pending.rows,
        });
        break;
      } catch (error) {
        this.metrics.insertErrors.inc();
        this.options.logger.warn(
          { err: error, rows: pending.rows.length, retryInMs: delay },
          'audit: insert failed; retrying',
        );
        await sleep(delay);
        delay = Math.min(delay * 2, 5_000);
      }
    }
    this.metrics.inserted.inc(pending.rows.length);
    this.metrics.buffered.set(this.pending.rows.length);
    if (this.options.afterInsert) {
      await this.options
        .afterInsert(pending.rows)
        .catch((error: unknown) =>
          this.options.logger.error({ err: error }, 'audit: analysis of a batch failed'),
        );
    }
    pending.resolve();
  }

  async stop(): Promise<void> {
    await this.retention.stop();
    await this.flush();
    await this.consumer.stop();
  }
}
