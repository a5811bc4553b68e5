import { z } from '@hono/zod-openapi';
import { columnsOf } from '../../db/columns.js';
import { webhookSubscriptions } from '../../db/schema/webhooks.js';
import { type Circuit, circuitStates } from '../flow/model.js';

/** A subscription as stored: the drizzle table's row, the one declaration of its fields. */
export type Subscription = typeof webhookSubscriptions.$inferSelect;

/** Every column of webhook_subscriptions for a raw SELECT or RETURNING, named as `Subscription`'s. */
export const subscriptionColumns = columnsOf(webhookSubscriptions);

/** A subscription with its circuit breaker as Redis has it: what the verbs answer. */
export interface SubscriptionState {
  subscription: Subscription;
  circuit: Circuit;
}

/** Text that PostgreSQL cannot store (NUL, unpaired surrogates) is refused for every field by newApp. */
const text = (max: number) => z.string().max(max);
const HeaderName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'must be an HTTP header name');
const HeaderValue = z
  .string()
  .max(1_024)
  .regex(/^[^\r\n]*$/, 'must not contain line breaks');
const StringMap = z.record(text(64), text(1_024));

const fields = {
  url: text(2_048).openapi({ example: 'https://example.com/hooks/hookline' }),
  event_types: z
    .array(text(128))
    .min(1)
    .max(100)
    .openapi({
      description: 'Exact types or wildcards: `user.*`, `user.session.*`, `*`.',
      example: ['user.*'],
    }),
  description: text(500).nullable().optional(),
  headers: z.record(HeaderName, HeaderValue).optional().openapi({ description: 'Sent with every delivery.' }),
  enabled: z.boolean().optional(),
  metadata: StringMap.optional(),
  max_in_flight: z.number().int().min(1).max(10_000).optional().openapi({
    description: 'Attempts to this endpoint at once, across every delivery process (default 20).',
  }),
  rate_limit_per_second: z.number().positive().max(100_000).nullable().optional().openapi({
    description: 'Attempts started per second at most (fractions allowed); null: no limit (the default).',
  }),
};
/** What a new subscription is made of. */
export const CreateSubscriptionInput = z.object(fields).strict().openapi('SubscriptionCreate');
export type CreateSubscriptionInput = z.infer<typeof CreateSubscriptionInput>;
/** A change: every field optional, each absent one left as it is. */
export const UpdateSubscriptionInput = z.object(fields).partial().strict().openapi('SubscriptionUpdate');
export type UpdateSubscriptionInput = z.infer<typeof UpdateSubscriptionInput>;

/** The public shape of a subscription: without its secrets, with its circuit breaker. */
export const PublicSubscription = z
  .object({
    id: z.uuid(),
    url: z.string(),
    event_types: z.array(z.string()),
    description: z.string().nullable(),
    headers: z.record(z.string(), z.string()),
    metadata: z.record(z.string(), z.string()),
    enabled: z.boolean(),
    disabled_reason: z.string().nullable(),
    disabled_at: z.iso.datetime().nullable(),
    failing_since: z.iso.datetime().nullable(),
    last_success_at: z.iso.datetime().nullable(),
    previous_secret_expires_at: z.iso.datetime().nullable(),
    max_in_flight: z.number().int().openapi({ description: 'Attempts to this endpoint at once, at most.' }),
    rate_limit_per_second: z
      .number()
      .nullable()
      .openapi({ description: 'Attempts started per second, at most; null: no limit.' }),
    circuit: z
      .object({
        state: z.enum(circuitStates),
        since: z.iso
          .datetime()
          .nullable()
          .openapi({ description: 'When it opened, or last closed (null: never opened).' }),
        next_probe_at: z.iso
          .datetime()
          .nullable()
          .openapi({ description: 'While open: when one probe attempt goes.' }),
        consecutive_failures: z.number().int(),
      })
      .openapi('Circuit', {
        description:
          'The circuit breaker: open after consecutive failed attempts; deliveries then wait (not attempted, no retry used) until a probe attempt succeeds.',
      }),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .openapi('Subscription');
export type PublicSubscription = z.infer<typeof PublicSubscription>;

export const PublicSubscriptionWithSecret = PublicSubscription.extend({
  secret: z.string().openapi({ description: 'The signing secret (`whsec_…`): shown when made.' }),
}).openapi('SubscriptionWithSecret');

const iso = (date: Date | null) => date?.toISOString() ?? null;
const isoMs = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A subscription in its public shape. */
export function toPublic({ subscription: row, circuit }: SubscriptionState): PublicSubscription {
  return {
    id: row.id,
    url: row.url,
    event_types: row.eventTypes,
    description: row.description,
    headers: row.headers,
    metadata: row.metadata,
    enabled: row.enabled,
    disabled_reason: row.disabledReason,
    disabled_at: iso(row.disabledAt),
    failing_since: iso(row.failingSince),
    last_success_at: iso(row.lastSuccessAt),
    previous_secret_expires_at: iso(row.previousSecretExpiresAt),
    max_in_flight: row.maxInFlight,
    rate_limit_per_second: row.rateLimitPerSecond,
    circuit: {
      state: circuit.state,
      since: isoMs(circuit.since),
      next_probe_at: isoMs(circuit.nextProbeAt),
      consecutive_failures: circuit.failures,
    },
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
