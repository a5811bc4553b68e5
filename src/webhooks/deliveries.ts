import { AppError } from '../errors.js';
import type { WebhookDeps } from './context.js';
import { requeueDeliveries } from './enqueue.js';

interface DeliveryRow {
  id: string;
  event_id: string;
  subscription_id: string;
  event_type: string;
  status: string;
  attempts: number;
  next_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  event_occurred_at: Date;
  created_at: Date;
  updated_at: Date;
  delivered_at: Date | null;
}

interface AttemptRow {
  id: string;
  number: number;
  started_at: Date;
  duration_ms: number;
  status_code: number | null;
  error_kind: string | null;
  error_message: string | null;
  response_excerpt: string | null;
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

/** `retrying` is stored as such and shown as `failed-retrying`, the name operators search by. */
export type PublicDeliveryStatus = 'pending' | 'failed-retrying' | 'succeeded' | 'dead';
export const publicStatus = (status: string): PublicDeliveryStatus =>
  status === 'retrying' ? 'failed-retrying' : (status as PublicDeliveryStatus);
const storedStatus = (status: string) => (status === 'failed-retrying' ? 'retrying' : status);

function publicDelivery(row: DeliveryRow) {
  return {
    id: row.id,
    event_id: row.event_id,
    subscription_id: row.subscription_id,
    event_type: row.event_type,
    status: publicStatus(row.status),
    attempts: row.attempts,
    next_attempt_at: iso(row.next_attempt_at),
    last_status_code: row.last_status_code,
    last_error: row.last_error,
    event_occurred_at: row.event_occurred_at.toISOString(),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    delivered_at: iso(row.delivered_at),
  };
}

export async function listDeliveries(
  deps: WebhookDeps,
  query: {
    limit: number;
    cursor?: string | undefined;
    subscription_id?: string | undefined;
    status?: string | undefined;
    event_type?: string | undefined;
    from?: string | undefined;
    to?: string | undefined;
  },
) {
  const sql = deps.sql;
  const rows = await sql<DeliveryRow[]>`
    SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_at, last_status_code,
      last_error, event_occurred_at, created_at, updated_at, delivered_at
    FROM webhook_deliveries
    WHERE true
      ${query.cursor ? sql`AND id < ${query.cursor}` : sql``}
      ${query.subscription_id ? sql`AND subscription_id = ${query.subscription_id}` : sql``}
      ${query.status ? sql`AND status = ${storedStatus(query.status)}` : sql``}
      ${query.event_type ? sql`AND event_type = ${query.event_type}` : sql``}
      ${query.from ? sql`AND created_at >= ${query.from}` : sql``}
      ${query.to ? sql`AND created_at < ${query.to}` : sql``}
    ORDER BY id DESC LIMIT ${query.limit + 1}`;
  const page = rows.slice(0, query.limit);
  return {
    items: page.map(publicDelivery),
    next_cursor: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
  };
}

export async function getDelivery(deps: WebhookDeps, id: string) {
  const [row] = await deps.sql<DeliveryRow[]>`
    SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_at, last_status_code,
      last_error, event_occurred_at, created_at, updated_at, delivered_at
    FROM webhook_deliveries WHERE id = ${id}`;
  if (!row) throw new AppError('not_found', 'No such delivery.');
  const attempts = await deps.sql<AttemptRow[]>`
    SELECT id, number, started_at, duration_ms, status_code, error_kind, error_message, response_excerpt
    FROM webhook_attempts WHERE delivery_id = ${id} ORDER BY number, started_at`;
  return {
    ...publicDelivery(row),
    attempt_log: attempts.map((attempt) => ({
      number: attempt.number,
      started_at: attempt.started_at.toISOString(),
      duration_ms: attempt.duration_ms,
      status_code: attempt.status_code,
      error_kind: attempt.error_kind,
      error_message: attempt.error_message,
      response_excerpt: attempt.response_excerpt,
    })),
  };
}

const requeue = (deps: WebhookDeps, where: ReturnType<WebhookDeps['sql']>) =>
  requeueDeliveries(
    { sql: deps.sql, queue: deps.queue, flow: deps.flow, retries: deps.config.WEBHOOK_RETRY_SCHEDULE.length },
    where,
    { resetStatus: true },
  );

/** Sends one delivery again now, whatever its status. */
export async function retryDelivery(deps: WebhookDeps, id: string) {
  const count = await requeue(deps, deps.sql`id = ${id}`);
  if (count === 0) throw new AppError('not_found', 'No such delivery.');
  return getDelivery(deps, id);
}

/** Re-queues every dead delivery of a subscription created in [since, until). */
export async function recoverDeliveries(
  deps: WebhookDeps,
  subscriptionId: string,
  window: { since: string; until?: string | undefined },
) {
  const [exists] = await deps.sql`SELECT 1 FROM webhook_subscriptions WHERE id = ${subscriptionId}`;
  if (!exists) throw new AppError('not_found', 'No such subscription.');
  const sql = deps.sql;
  const recovered = await requeue(
    deps,
    sql`subscription_id = ${subscriptionId} AND status = 'dead' AND created_at >= ${window.since}
      ${window.until ? sql`AND created_at < ${window.until}` : sql``}`,
  );
  return { recovered };
}
