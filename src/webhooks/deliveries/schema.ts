import { z } from '@hono/zod-openapi';
import { columnsOf } from '../../db/columns.js';
import { type DeliveryStatus, webhookAttempts, webhookDeliveries } from '../../db/schema/webhooks.js';
import { Timestamp } from '../../db/time.js';
import type { DeliveryMatch } from './read.js';

/** A delivery as stored: the drizzle table's row, the one declaration of its fields. */
export type Delivery = typeof webhookDeliveries.$inferSelect;
/** One attempt of a delivery as stored. */
export type Attempt = typeof webhookAttempts.$inferSelect;

/** Every column of webhook_deliveries for a raw SELECT or RETURNING, named as `Delivery`'s. */
export const deliveryColumns = columnsOf(webhookDeliveries);
export const attemptColumns = columnsOf(webhookAttempts);

/**
 * The statuses as the API names them: `retrying` is stored as such and shown as `failed-retrying`, the
 * name operators search by.
 */
export const publicDeliveryStatuses = ['pending', 'failed-retrying', 'succeeded', 'dead'] as const;
export type PublicDeliveryStatus = (typeof publicDeliveryStatuses)[number];
export const publicStatus = (status: DeliveryStatus): PublicDeliveryStatus =>
  status === 'retrying' ? 'failed-retrying' : status;
export const storedStatus = (status: PublicDeliveryStatus): DeliveryStatus =>
  status === 'failed-retrying' ? 'retrying' : status;

/** Which deliveries, in public names: the API's search query and the console's search form. */
export const deliveryMatchFields = {
  subscription_id: z.uuid().optional(),
  status: z.enum(publicDeliveryStatuses).optional(),
  event_type: z.string().max(128).optional(),
  from: Timestamp.optional().openapi({ description: 'Deliveries of events at or after this time.' }),
  to: Timestamp.optional().openapi({ description: 'Deliveries of events before this time.' }),
  user_id: z.uuid().optional().openapi({ description: 'Deliveries of events about this user.' }),
  event_id: z.uuid().optional(),
  http_status: z.coerce
    .number()
    .int()
    .min(100)
    .max(599)
    .optional()
    .openapi({ description: "The last attempt's HTTP status." }),
};

/** A match in public names (a search query, a replay's filter) as the stored records' match. */
export function matchOf(query: {
  subscription_id?: string | undefined;
  status?: PublicDeliveryStatus | undefined;
  event_type?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  user_id?: string | undefined;
  event_id?: string | undefined;
  http_status?: number | undefined;
}): DeliveryMatch {
  return {
    subscriptionId: query.subscription_id,
    status: query.status && storedStatus(query.status),
    eventType: query.event_type,
    from: query.from,
    to: query.to,
    userId: query.user_id,
    eventId: query.event_id,
    httpStatus: query.http_status,
  };
}

export const PublicDelivery = z
  .object({
    id: z.uuid(),
    event_id: z.uuid(),
    subscription_id: z.uuid(),
    event_type: z.string(),
    status: z.enum(publicDeliveryStatuses),
    attempts: z.number().int(),
    next_attempt_at: z.iso.datetime().nullable(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    event_occurred_at: z.iso.datetime(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
    delivered_at: z.iso.datetime().nullable(),
  })
  .openapi('Delivery');
export type PublicDelivery = z.infer<typeof PublicDelivery>;

export const PublicAttempt = z
  .object({
    number: z.number().int(),
    started_at: z.iso.datetime(),
    duration_ms: z.number().int(),
    status_code: z.number().int().nullable(),
    error_kind: z.string().nullable().openapi({ description: 'timeout, dns, connect, tls, ssrf_blocked, …' }),
    error_message: z.string().nullable(),
    response_excerpt: z.string().nullable(),
  })
  .openapi('Attempt');

export const PublicDeliveryDetail = PublicDelivery.extend({ attempt_log: z.array(PublicAttempt) }).openapi(
  'DeliveryDetail',
);

const iso = (date: Date | null) => date?.toISOString() ?? null;

/** A delivery in its public shape. */
export function toPublicDelivery(row: Delivery): PublicDelivery {
  return {
    id: row.id,
    event_id: row.eventId,
    subscription_id: row.subscriptionId,
    event_type: row.eventType,
    status: publicStatus(row.status),
    attempts: row.attempts,
    next_attempt_at: iso(row.nextAttemptAt),
    last_status_code: row.lastStatusCode,
    last_error: row.lastError,
    event_occurred_at: row.eventOccurredAt.toISOString(),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    delivered_at: iso(row.deliveredAt),
  };
}

/** A delivery with every attempt, in its public shape. */
export function toPublicDetail(found: { delivery: Delivery; attempts: Attempt[] }) {
  return {
    ...toPublicDelivery(found.delivery),
    attempt_log: found.attempts.map((attempt) => ({
      number: attempt.number,
      started_at: attempt.startedAt.toISOString(),
      duration_ms: attempt.durationMs,
      status_code: attempt.statusCode,
      error_kind: attempt.errorKind,
      error_message: attempt.errorMessage,
      response_excerpt: attempt.responseExcerpt,
    })),
  };
}
