import postgres from 'postgres';
import type { Sql } from '../../db/client.js';
import type { AttemptStatus } from '../../db/schema/webhooks.js';
import { storableText } from '../../db/text.js';
import { statusSql } from '../deliveries/status.js';

export interface AttemptRecord {
  id: string;
  deliveryId: string;
  subscriptionId: string;
  number: number;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  errorKind: string | null;
  errorMessage: string | null;
  responseExcerpt: string | null;
  /** The delivery's state after this attempt. */
  status: AttemptStatus;
  nextAttemptAt: Date | null;
  /** The subscription answered 410 Gone: disable it. */
  gone: boolean;
  /**
   * Whether the attempt tells about the endpoint's health: false when the platform did not send it
   * (its signing secret could not be decrypted), so it cannot make the subscription "failing".
   */
  endpointHealth: boolean;
}

const disabledOf = (row: { id: string; url: string; failing_since: Date | null }) => ({
  id: row.id,
  url: row.url,
  failingSince: row.failing_since,
});

export interface DisabledSubscription {
  id: string;
  url: string;
  reason: 'gone' | 'failing';
  failingSince: Date | null;
}

interface QueuedRecord {
  record: AttemptRecord;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Records attempts with group commit: attempts arriving within a few milliseconds are written in one
 * transaction (one multi-row insert, one bulk update of deliveries, one update of the subscriptions'
 * health), and each caller's promise resolves only once its attempt is durable. The same transaction
 * disables subscriptions that answered 410 or have failed for `disableAfterSeconds` without a success,
 * and hands them to `onDisabled` (which writes their event to the outbox in that transaction).
 */
export class DeliveryRecorder {
  private batch: QueuedRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly sql: Sql,
    private readonly options: {
      disableAfterSeconds: number;
      maxBatch: number;
      onDisabled: (tx: Sql, disabled: DisabledSubscription[]) => Promise<void>;
      /** An attempt the database refused as it was (it is then stored without the receiver's text). */
      onRefused: (record: AttemptRecord, error: Error) => void;
    },
  ) {}

  record(record: AttemptRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.batch.push({ record, resolve, reject });
      if (this.batch.length >= this.options.maxBatch) {
        clearTimeout(this.timer);
        this.timer = undefined;
        void this.flush();
      } else {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          void this.flush();
        }, 3);
      }
    });
  }

  /** Writes what is queued (serialised: one transaction at a time keeps row locks in order). */
  flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return this.flushing;
    this.flushing = this.flushing.then(() => this.writeBatch(batch));
    return this.flushing;
  }

  /**
   * One transaction for the batch; if the database refuses it, each attempt on its own, so that one
   * bad row never fails its neighbours. An attempt the database still refuses is stored without the
   * text it got from the receiver, with the refusal as its error message (its outcome, and so the
   * delivery's state, stay what they were: a receiver that answered 2xx has the event). Only an
   * attempt that cannot be stored even so (or a database that cannot be reached) fails its caller.
   */
  private async writeBatch(batch: QueuedRecord[]): Promise<void> {
    try {
      await this.write(batch.map((entry) => entry.record));
      for (const entry of batch) entry.resolve();
      return;
    } catch (error) {
      // Not a refusal (the database cannot be reached, say): every attempt of the batch fails alike.
      if (!(error instanceof postgres.PostgresError)) {
        for (const entry of batch) entry.reject(error);
        return;
      }
    }
    for (const entry of batch) {
      try {
        await this.writeOne(entry.record);
        entry.resolve();
      } catch (error) {
        entry.reject(error);
      }
    }
  }

  private async writeOne(record: AttemptRecord): Promise<void> {
    try {
      await this.write([record]);
    } catch (error) {
      if (!(error instanceof postgres.PostgresError)) throw error;
      const reason = storableText(`${error.code} ${error.message}`).slice(0, 300);
      this.options.onRefused(record, error);
      await this.write([
        {
          ...record,
          responseExcerpt: null,
          errorMessage: `the attempt could not be stored as received (${reason}); stored without the receiver's text`,
        },
      ]);
    }
  }

  private async write(records: AttemptRecord[]): Promise<DisabledSubscription[]> {
    const health = healthOf(records);
    return this.sql.begin(async (tx) => {
      const sql = tx as unknown as Sql;
      // Every statement goes out at once (pipelined, run in order): none needs another's result.
      // (postgres.js sends a query when it is awaited: Promise.all sends them in this array's order)
      const results = await Promise.all([
        ...attemptStatements(sql, records),
        ...healthStatements(sql, health),
        ...disableStatements(sql, health, this.options.disableAfterSeconds),
      ]);
      const [goneDisabled, failingDisabled] = results.slice(-2) as [DisabledRow[], DisabledRow[]];
      const disabled: DisabledSubscription[] = [
        ...goneDisabled.map((row) => ({ ...disabledOf(row), reason: 'gone' as const })),
        ...failingDisabled.map((row) => ({ ...disabledOf(row), reason: 'failing' as const })),
      ];
      if (disabled.length > 0) await this.options.onDisabled(sql, disabled);
      return disabled;
    });
  }
}

type DisabledRow = { id: string; url: string; failing_since: Date | null };

/** What a batch says of its subscriptions: which succeeded, which failed (and no success), which are gone. */
function healthOf(records: AttemptRecord[]) {
  const succeeded = new Set(records.filter((r) => r.status === 'succeeded').map((r) => r.subscriptionId));
  const failed = [
    ...new Set(
      records.filter((r) => r.status !== 'succeeded' && r.endpointHealth).map((r) => r.subscriptionId),
    ),
  ].filter((id) => !succeeded.has(id));
  const gone = [...new Set(records.filter((r) => r.gone).map((r) => r.subscriptionId))];
  return { succeeded: [...succeeded], failed, gone };
}
type BatchHealth = ReturnType<typeof healthOf>;

/** The attempts inserted, and each delivery's state after its last attempt of the batch. */
function attemptStatements(tx: Sql, records: AttemptRecord[]) {
  // The last state of each delivery in the batch wins (one delivery may appear twice).
  const updates = [...new Map(records.map((record) => [record.deliveryId, record])).values()];
  return [
    tx`
      INSERT INTO webhook_attempts (id, delivery_id, number, started_at, duration_ms, status_code, error_kind, error_message, response_excerpt)
      SELECT * FROM unnest(${records.map((r) => r.id)}::uuid[], ${records.map((r) => r.deliveryId)}::uuid[],
        ${records.map((r) => r.number)}::int[], ${records.map((r) => r.startedAt.toISOString())}::timestamptz[],
        ${records.map((r) => r.durationMs)}::int[], ${records.map((r) => r.statusCode)}::int[],
        ${records.map((r) => r.errorKind)}::text[], ${records.map((r) => r.errorMessage)}::text[],
        ${records.map((r) => r.responseExcerpt)}::text[])`,
    tx`
      UPDATE webhook_deliveries AS d SET
        status = v.status, attempts = GREATEST(d.attempts, v.number), next_attempt_at = v.next_attempt_at,
        last_status_code = v.status_code, last_error = v.error, updated_at = now(),
        delivered_at = CASE WHEN v.status = ${statusSql(tx, 'succeeded')} THEN now() ELSE d.delivered_at END
      FROM unnest(${updates.map((r) => r.deliveryId)}::uuid[], ${updates.map((r) => r.status)}::text[],
        ${updates.map((r) => r.number)}::int[], ${updates.map((r) => r.nextAttemptAt?.toISOString() ?? null)}::timestamptz[],
        ${updates.map((r) => r.statusCode)}::int[],
        ${updates.map((r) => (r.errorKind ? `${r.errorKind}: ${r.errorMessage ?? ''}`.slice(0, 500) : null))}::text[])
        AS v(id, status, number, next_attempt_at, status_code, error)
      WHERE d.id = v.id`,
  ];
}

/** The subscriptions' health: a success ends a failing streak, a failure starts one. */
function healthStatements(tx: Sql, health: BatchHealth) {
  const statements = [];
  if (health.succeeded.length > 0) {
    statements.push(tx`
      UPDATE webhook_subscriptions SET failing_since = NULL, last_success_at = now()
      WHERE id = ANY(${health.succeeded}::uuid[])
        AND (failing_since IS NOT NULL OR last_success_at IS NULL OR last_success_at < now() - interval '10 seconds')`);
  }
  if (health.failed.length > 0) {
    statements.push(tx`
      UPDATE webhook_subscriptions SET failing_since = now()
      WHERE id = ANY(${health.failed}::uuid[]) AND failing_since IS NULL`);
  }
  return statements;
}

/** Subscriptions disabled: those gone (410), those failing for too long; last, in this order. */
function disableStatements(tx: Sql, health: BatchHealth, disableAfterSeconds: number) {
  const none = Promise.resolve([] as DisabledRow[]);
  const gone =
    health.gone.length === 0
      ? none
      : tx<DisabledRow[]>`
        UPDATE webhook_subscriptions
        SET enabled = false, disabled_at = now(), updated_at = now(),
          disabled_reason = 'the endpoint answered 410 Gone'
        WHERE id = ANY(${health.gone}::uuid[]) AND enabled
        RETURNING id, url, failing_since`;
  const failing =
    health.failed.length === 0
      ? none
      : tx<DisabledRow[]>`
        UPDATE webhook_subscriptions
        SET enabled = false, disabled_at = now(), updated_at = now(),
          disabled_reason = 'deliveries failed for ' || ${disableAfterSeconds}::text || ' seconds without a success'
        WHERE id = ANY(${health.failed}::uuid[]) AND enabled
          AND failing_since < now() - make_interval(secs => ${disableAfterSeconds})
        RETURNING id, url, failing_since`;
  return [gone, failing];
}
