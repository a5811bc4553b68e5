import { v7 as uuidv7 } from 'uuid';
import { escapeLike } from '../db/like.js';
import { AppError, type FieldError } from '../errors.js';
import type { Actor } from '../events/catalog.js';
import { eventTypes } from '../events/catalog.js';
import { buildEvent, systemMeta } from '../events/envelope.js';
import type { WebhookDeps } from './context.js';
import { customHeaderProblem } from './custom-headers.js';
import { enqueueDeliveries } from './enqueue.js';
import { filterMatches, unknownFilters } from './filters.js';
import type { Circuit } from './flow/flow-control.js';
import { newSigningSecret } from './signing.js';
import { notifySubscriptionsChanged } from './subscription-index.js';

export interface SubscriptionRow {
  id: string;
  url: string;
  event_types: string[];
  description: string | null;
  headers: Record<string, string>;
  metadata: Record<string, string>;
  enabled: boolean;
  secret: string;
  previous_secret_expires_at: Date | null;
  disabled_reason: string | null;
  disabled_at: Date | null;
  failing_since: Date | null;
  last_success_at: Date | null;
  max_in_flight: number;
  rate_limit_per_second: number | null;
  created_at: Date;
  updated_at: Date;
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

const isoMs = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The public shape of a subscription, without its secret, with its circuit breaker as Redis has it. */
export function publicSubscription(row: SubscriptionRow, circuit: Circuit) {
  return {
    id: row.id,
    url: row.url,
    event_types: row.event_types,
    description: row.description,
    headers: row.headers,
    metadata: row.metadata,
    enabled: row.enabled,
    disabled_reason: row.disabled_reason,
    disabled_at: iso(row.disabled_at),
    failing_since: iso(row.failing_since),
    last_success_at: iso(row.last_success_at),
    previous_secret_expires_at: iso(row.previous_secret_expires_at),
    max_in_flight: row.max_in_flight,
    rate_limit_per_second: row.rate_limit_per_second,
    circuit: {
      state: circuit.state,
      since: isoMs(circuit.since),
      next_probe_at: isoMs(circuit.nextProbeAt),
      consecutive_failures: circuit.failures,
    },
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** A row as the API shows it (its breaker read from Redis). */
const shown = async (deps: WebhookDeps, row: SubscriptionRow) =>
  publicSubscription(row, await deps.flow.circuit(row.id));

/** With the secret: only when it was just made (create, rotate). */
const withSecret = async (deps: WebhookDeps, row: SubscriptionRow, secret: string) => ({
  ...(await shown(deps, row)),
  secret,
});
export type PublicSubscription = ReturnType<typeof publicSubscription>;

export interface SubscriptionInput {
  url?: string | undefined;
  event_types?: string[] | undefined;
  description?: string | null | undefined;
  headers?: Record<string, string> | undefined;
  enabled?: boolean | undefined;
  metadata?: Record<string, string> | undefined;
  max_in_flight?: number | undefined;
  rate_limit_per_second?: number | null | undefined;
}

function validate(deps: WebhookDeps, input: SubscriptionInput): void {
  const errors: FieldError[] = [];
  if (input.url !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(input.url);
    } catch {
      errors.push({ field: 'body.url', message: 'must be an absolute http(s) URL', code: 'invalid_url' });
    }
    if (url) {
      if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        errors.push({ field: 'body.url', message: 'must use https (or http)', code: 'invalid_url' });
      } else if (url.protocol === 'http:' && !deps.config.WEBHOOK_ALLOW_HTTP) {
        errors.push({
          field: 'body.url',
          message: 'must use https (http is off: WEBHOOK_ALLOW_HTTP)',
          code: 'https_required',
        });
      }
      if (url.username || url.password) {
        errors.push({
          field: 'body.url',
          message: 'must not carry credentials; use headers',
          code: 'invalid_url',
        });
      }
    }
  }
  if (input.event_types !== undefined) {
    const unknown = unknownFilters(input.event_types);
    if (unknown.length > 0) {
      errors.push({
        field: 'body.event_types',
        message: `unknown event types: ${unknown.join(', ')}; valid types: ${eventTypes.join(', ')} (or wildcards such as user.*, *)`,
        code: 'unknown_event_type',
      });
    }
  }
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    const problem = customHeaderProblem(name, value);
    if (problem) errors.push({ field: `body.headers.${name}`, ...problem });
  }
  if (errors.length > 0)
    throw new AppError('validation_failed', errors.map((e) => `${e.field}: ${e.message}`).join('; '), {
      fieldErrors: errors,
    });
}

export async function createSubscription(
  deps: WebhookDeps,
  input: SubscriptionInput & { url: string; event_types: string[] },
) {
  validate(deps, input);
  const id = uuidv7();
  const secret = newSigningSecret();
  const row = await deps.sql.begin(async (tx) => {
    const [created] = await tx<SubscriptionRow[]>`
      INSERT INTO webhook_subscriptions (id, url, event_types, description, headers, metadata, enabled, secret,
        max_in_flight, rate_limit_per_second)
      VALUES (${id}, ${input.url}, ${input.event_types}, ${input.description ?? null},
        ${tx.json(input.headers ?? {})}, ${tx.json(input.metadata ?? {})}, ${input.enabled ?? true}, ${deps.secrets.seal(secret, id)},
        ${input.max_in_flight ?? deps.config.WEBHOOK_MAX_IN_FLIGHT}, ${input.rate_limit_per_second ?? null})
      RETURNING *`;
    await notifySubscriptionsChanged(tx as unknown as WebhookDeps['sql']);
    return created;
  });
  if (!row) throw new Error('insert returned no row');
  return withSecret(deps, row, secret);
}

async function findRow(deps: WebhookDeps, id: string): Promise<SubscriptionRow> {
  const [row] = await deps.sql<SubscriptionRow[]>`SELECT * FROM webhook_subscriptions WHERE id = ${id}`;
  if (!row) throw new AppError('not_found', 'No such subscription.');
  return row;
}

export async function getSubscription(deps: WebhookDeps, id: string) {
  return shown(deps, await findRow(deps, id));
}

export async function listSubscriptions(
  deps: WebhookDeps,
  query: {
    limit: number;
    cursor?: string | undefined;
    enabled?: boolean | undefined;
    event_type?: string | undefined;
    url?: string | undefined;
  },
) {
  const sql = deps.sql;
  const rows = await sql<SubscriptionRow[]>`
    SELECT * FROM webhook_subscriptions
    WHERE true
      ${query.cursor ? sql`AND id < ${query.cursor}` : sql``}
      ${query.enabled !== undefined ? sql`AND enabled = ${query.enabled}` : sql``}
      ${query.url ? sql`AND url ILIKE ${`%${escapeLike(query.url)}%`}` : sql``}
    ORDER BY id DESC`;
  const matching = query.event_type
    ? rows.filter((row) => row.event_types.some((f) => filterMatches(f, query.event_type ?? '')))
    : rows;
  const page = matching.slice(0, query.limit);
  return {
    items: await Promise.all(page.map((row) => shown(deps, row))),
    next_cursor: matching.length > query.limit ? (page.at(-1)?.id ?? null) : null,
  };
}

export async function updateSubscription(deps: WebhookDeps, id: string, input: SubscriptionInput) {
  validate(deps, input);
  const current = await findRow(deps, id);
  const row = await deps.sql.begin(async (tx) => {
    const [updated] = await tx<SubscriptionRow[]>`
      UPDATE webhook_subscriptions SET
        url = ${input.url ?? current.url},
        event_types = ${input.event_types ?? current.event_types},
        description = ${input.description === undefined ? current.description : input.description},
        headers = ${tx.json(input.headers ?? current.headers)},
        metadata = ${tx.json(input.metadata ?? current.metadata)},
        enabled = ${input.enabled ?? current.enabled},
        disabled_reason = ${input.enabled === true ? null : current.disabled_reason},
        disabled_at = ${input.enabled === true ? null : current.disabled_at},
        failing_since = ${input.enabled === true ? null : current.failing_since},
        max_in_flight = ${input.max_in_flight ?? current.max_in_flight},
        rate_limit_per_second = ${input.rate_limit_per_second === undefined ? current.rate_limit_per_second : input.rate_limit_per_second},
        updated_at = now()
      WHERE id = ${id} RETURNING *`;
    await notifySubscriptionsChanged(tx as unknown as WebhookDeps['sql']);
    return updated;
  });
  if (!row) throw new AppError('not_found', 'No such subscription.');
  return shown(deps, row);
}

export async function deleteSubscription(deps: WebhookDeps, id: string): Promise<void> {
  const deleted = await deps.sql.begin(async (tx) => {
    const result = await tx`DELETE FROM webhook_subscriptions WHERE id = ${id}`;
    await notifySubscriptionsChanged(tx as unknown as WebhookDeps['sql']);
    return result.count;
  });
  if (deleted === 0) throw new AppError('not_found', 'No such subscription.');
  await deps.flow.forget(id);
}

/** A new secret signs from now on; the old one keeps signing too until the overlap ends. */
export async function rotateSecret(deps: WebhookDeps, id: string) {
  await findRow(deps, id);
  const secret = newSigningSecret();
  const row = await deps.sql.begin(async (tx) => {
    const [updated] = await tx<SubscriptionRow[]>`
      UPDATE webhook_subscriptions SET
        previous_secret = secret,
        previous_secret_expires_at = now() + make_interval(secs => ${deps.config.WEBHOOK_SECRET_OVERLAP_SECONDS}),
        secret = ${deps.secrets.seal(secret, id)}, updated_at = now()
      WHERE id = ${id} RETURNING *`;
    await notifySubscriptionsChanged(tx as unknown as WebhookDeps['sql']);
    return updated;
  });
  if (!row) throw new AppError('not_found', 'No such subscription.');
  return withSecret(deps, row, secret);
}

/** Sends a `webhook.test` event to this one subscription now (it skips Kafka and fan-out). */
export async function sendTestEvent(deps: WebhookDeps, id: string, actor: Actor) {
  const row = await findRow(deps, id);
  const event = buildEvent({
    type: 'webhook.test',
    userId: null,
    actor,
    meta: systemMeta,
    data: { subscription_id: id, message: 'This is a test event from hookline.' },
  });
  const deliveryId = uuidv7();
  await deps.sql.begin(async (tx) => {
    await tx`INSERT INTO webhook_events (id, type, occurred_at, payload) VALUES (${event.id}, ${event.type}, ${event.occurred_at}, ${tx.json(event as never)})`;
    await tx`
      INSERT INTO webhook_deliveries (id, event_id, subscription_id, event_type, event_occurred_at)
      VALUES (${deliveryId}, ${event.id}, ${id}, ${event.type}, ${event.occurred_at})`;
  });
  await enqueueDeliveries(
    { queue: deps.queue, flow: deps.flow, retries: deps.config.WEBHOOK_RETRY_SCHEDULE.length },
    [{ deliveryId, generation: 0, subscriptionId: id, maxInFlight: row.max_in_flight }],
  );
  return { event_id: event.id, delivery_id: deliveryId };
}

/**
 * Seals every stored signing secret (current and previous) with the first key of
 * WEBHOOK_SECRETS_KEYS where it is in plain text or under an older key (`npm run
 * webhooks:reseal-secrets`); a previous secret whose overlap has ended is dropped, not resealed. Each
 * row is written only if unchanged since it was read; a row that changed meanwhile (a rotation) is
 * read again, so when this returns no row is left under an older key but the unreadable ones:
 * secrets under a key that is not listed, which are reported, not touched. `ids` limits it to those
 * subscriptions.
 */
export async function resealSecrets(
  deps: Pick<WebhookDeps, 'sql' | 'secrets'>,
  options: { ids?: readonly string[] } = {},
): Promise<{ resealed: number; unreadable: string[] }> {
  if (!deps.secrets.encrypts) return { resealed: 0, unreadable: [] };
  if (options.ids && options.ids.length === 0) return { resealed: 0, unreadable: [] };
  const box = deps.secrets;
  let resealed = 0;
  for (let pass = 0; ; pass++) {
    const rows = await deps.sql<
      { id: string; secret: string; previous_secret: string | null; previous_expired: boolean }[]
    >`
      SELECT id, secret, previous_secret,
        COALESCE(previous_secret_expires_at <= now(), false) AS previous_expired
      FROM webhook_subscriptions
      ${options.ids ? deps.sql`WHERE id IN ${deps.sql(options.ids as string[])}` : deps.sql``}
      ORDER BY id`;
    const unreadable: string[] = [];
    let conflicts = 0;
    for (const row of rows) {
      const dropPrevious = row.previous_secret !== null && row.previous_expired;
      const previousStale =
        row.previous_secret !== null && !dropPrevious && box.needsReseal(row.previous_secret);
      if (!box.needsReseal(row.secret) && !previousStale && !dropPrevious) continue;
      let secret: string;
      let previous: string | null;
      try {
        secret = box.needsReseal(row.secret) ? box.seal(box.open(row.secret, row.id), row.id) : row.secret;
        previous =
          dropPrevious || row.previous_secret === null
            ? null
            : previousStale
              ? box.seal(box.open(row.previous_secret, row.id), row.id)
              : row.previous_secret;
      } catch {
        unreadable.push(row.id);
        continue;
      }
      const result = await deps.sql`
        UPDATE webhook_subscriptions SET secret = ${secret}, previous_secret = ${previous},
          previous_secret_expires_at = CASE WHEN ${previous}::text IS NULL THEN NULL ELSE previous_secret_expires_at END
        WHERE id = ${row.id} AND secret = ${row.secret}
          AND previous_secret IS NOT DISTINCT FROM ${row.previous_secret}`;
      resealed += result.count;
      if (result.count === 0) conflicts += 1;
    }
    if (conflicts === 0 || pass >= 10) {
      if (resealed > 0) await notifySubscriptionsChanged(deps.sql);
      if (conflicts > 0)
        throw new Error(`${conflicts} subscription(s) kept changing while being resealed; run it again`);
      return { resealed, unreadable };
    }
  }
}
