import { createRoute, z } from '@hono/zod-openapi';
import type { AuthDeps } from '../../auth/context.js';
import type { WebhookDeps } from '../../webhooks/context.js';
import { getDelivery, listDeliveries, recoverDeliveries, retryDelivery } from '../../webhooks/deliveries.js';
import {
  createSubscription,
  deleteSubscription,
  getSubscription,
  listSubscriptions,
  rotateSecret,
  sendTestEvent,
  updateSubscription,
} from '../../webhooks/subscriptions.js';
import type { App } from '../app.js';
import { actorOf, requireAdminOrScope } from '../middleware/auth.js';
import { jsonBody, jsonResponse } from '../openapi.js';
import { problems } from '../problem.js';
import { IdParam } from '../schemas/auth.js';
import { Timestamp } from '../schemas/time.js';

/** Text that PostgreSQL cannot store (NUL, unpaired surrogates) is refused for every field by newApp. */
const text = (max: number) => z.string().max(max);
const HeaderName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'must be an HTTP header name');
const HeaderValue = z
  .string()
  .max(1_024)
  .regex(/^[^\r\n]*$/, 'must not contain line breaks');
const StringMap = z.record(text(64), text(1_024));

const SubscriptionSchema = z
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
        state: z.enum(['closed', 'open', 'half_open']),
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
const SubscriptionWithSecret = SubscriptionSchema.extend({
  secret: z.string().openapi({ description: 'The signing secret (`whsec_…`): shown when made.' }),
}).openapi('SubscriptionWithSecret');

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
const CreateBody = z.object(fields).strict().openapi('SubscriptionCreate');
const UpdateBody = z.object(fields).partial().strict().openapi('SubscriptionUpdate');

const DeliverySchema = z
  .object({
    id: z.uuid(),
    event_id: z.uuid(),
    subscription_id: z.uuid(),
    event_type: z.string(),
    status: z.enum(['pending', 'failed-retrying', 'succeeded', 'dead']),
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
const AttemptSchema = z
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
const DeliveryWithAttempts = DeliverySchema.extend({ attempt_log: z.array(AttemptSchema) }).openapi(
  'DeliveryDetail',
);

const page = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ items: z.array(item), next_cursor: z.uuid().nullable() }).openapi(name);

const Limit = z.coerce.number().int().min(1).max(200).default(50);
const SubscriptionQuery = z.object({
  limit: Limit,
  cursor: z.uuid().optional(),
  enabled: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
  event_type: text(128).optional().openapi({ description: 'Subscriptions that would receive this type.' }),
  url: text(2_048).optional().openapi({ description: 'Substring of the URL.' }),
});
const DeliveryQuery = z.object({
  limit: Limit,
  cursor: z.uuid().optional(),
  subscription_id: z.uuid().optional(),
  status: z.enum(['pending', 'failed-retrying', 'succeeded', 'dead']).optional(),
  event_type: text(128).optional(),
  from: Timestamp.optional(),
  to: Timestamp.optional(),
});
const RecoverBody = z.object({ since: Timestamp, until: Timestamp.optional() }).openapi('RecoverRequest');

export function registerWebhookRoutes(app: App, auth: AuthDeps, hooks: WebhookDeps): void {
  const guarded = {
    security: [{ bearer: [] }],
    middleware: [requireAdminOrScope(auth, 'webhooks:manage')],
    tags: ['webhooks'],
  };
  const base = '/v1/webhooks/subscriptions';

  app.openapi(
    createRoute({
      ...guarded,
      method: 'post',
      path: base,
      summary: 'Subscribe a URL to event types; answers with the signing secret.',
      request: { body: jsonBody(CreateBody) },
      responses: { 201: jsonResponse('Created.', SubscriptionWithSecret), ...problems(400, 401, 403) },
    }),
    async (c) => c.json(await createSubscription(hooks, c.req.valid('json')), 201),
  );
  app.openapi(
    createRoute({
      ...guarded,
      method: 'get',
      path: base,
      summary: 'Subscriptions, newest first, filterable.',
      request: { query: SubscriptionQuery },
      responses: {
        200: jsonResponse('A page of subscriptions.', page(SubscriptionSchema, 'SubscriptionPage')),
        ...problems(400, 401, 403),
      },
    }),
    async (c) => c.json(await listSubscriptions(hooks, c.req.valid('query')), 200),
  );
  app.openapi(
    createRoute({
      ...guarded,
      method: 'get',
      path: `${base}/{id}`,
      summary: 'One subscription.',
      request: { params: IdParam },
      responses: {
        200: jsonResponse('The subscription.', SubscriptionSchema),
        ...problems(400, 401, 403, 404),
      },
    }),
    async (c) => c.json(await getSubscription(hooks, c.req.valid('param').id), 200),
  );
  app.openapi(
    createRoute({
      ...guarded,
      method: 'patch',
      path: `${base}/{id}`,
      summary: 'Change a subscription.',
      request: { params: IdParam, body: jsonBody(UpdateBody) },
      responses: {
        200: jsonResponse('The subscription.', SubscriptionSchema),
        ...problems(400, 401, 403, 404),
      },
    }),
    async (c) => c.json(await updateSubscription(hooks, c.req.valid('param').id, c.req.valid('json')), 200),
  );
  app.openapi(
    createRoute({
      ...guarded,
      method: 'delete',
      path: `${base}/{id}`,
      summary: 'Delete a subscription and its deliveries.',
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted.' }, ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      await deleteSubscription(hooks, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      ...guarded,
      method: 'post',
      path: `${base}/{id}/rotate-secret`,
      summary:
        'Make a new signing secret; the old one keeps signing during the overlap (both signatures sent).',
      request: { params: IdParam },
      responses: {
        200: jsonResponse('The subscription with its new secret.', SubscriptionWithSecret),
        ...problems(400, 401, 403, 404),
      },
    }),
    async (c) => c.json(await rotateSecret(hooks, c.req.valid('param').id), 200),
  );
  app.openapi(
    createRoute({
      ...guarded,
      method: 'post',
      path: `${base}/{id}/test`,
      summary: 'Send a `webhook.test` event to this subscription now.',
      request: { params: IdParam },
      responses: {
        202: jsonResponse('Queued.', z.object({ event_id: z.uuid(), delivery_id: z.uuid() })),
        ...problems(400, 401, 403, 404),
      },
    }),
    async (c) => c.json(await sendTestEvent(hooks, c.req.valid('param').id, actorOf(c.get('caller'))), 202),
  );
  app.openapi(
    createRoute({
      ...guarded,
      method: 'post',
      path: `${base}/{id}/enable`,
      summary: 'Enable a subscription again (after fixing its endpoint); clears the disabled reason.',
      request: { params: IdParam },
      responses: {
        200: jsonResponse('The subscription.', SubscriptionSchema),
        ...problems(400, 401, 403, 404),
      },
    }),
    async (c) => c.json(await updateSubscription(hooks, c.req.valid('param').id, { enabled: true }), 200),
  );
  app.openapi(
    createRoute({
      ...guarded,
      method: 'post',
      path: `${base}/{id}/recover`,
      summary: 'Re-queue every dead delivery of this subscription created in [since, until).',
      request: { params: IdParam, body: jsonBody(RecoverBody) },
      responses: {
        202: jsonResponse('Re-queued.', z.object({ recovered: z.number().int() })),
        ...problems(400, 401, 403, 404),
      },
    }),
    async (c) => c.json(await recoverDeliveries(hooks, c.req.valid('param').id, c.req.valid('json')), 202),
  );

  app.openapi(
    createRoute({
      ...guarded,
      method: 'get',
      path: '/v1/webhooks/deliveries',
      summary: 'Deliveries, newest first, by subscription, status, event type and time.',
      request: { query: DeliveryQuery },
      responses: {
        200: jsonResponse('A page of deliveries.', page(DeliverySchema, 'DeliveryPage')),
        ...problems(400, 401, 403),
      },
    }),
    async (c) => c.json(await listDeliveries(hooks, c.req.valid('query')), 200),
  );
  app.openapi(
    createRoute({
      ...guarded,
      method: 'get',
      path: '/v1/webhooks/deliveries/{id}',
      summary: 'One delivery with every attempt.',
      request: { params: IdParam },
      responses: {
        200: jsonResponse('The delivery.', DeliveryWithAttempts),
        ...problems(400, 401, 403, 404),
      },
    }),
    async (c) => c.json(await getDelivery(hooks, c.req.valid('param').id), 200),
  );
  app.openapi(
    createRoute({
      ...guarded,
      method: 'post',
      path: '/v1/webhooks/deliveries/{id}/retry',
      summary: 'Send a delivery again now, whatever its status.',
      request: { params: IdParam },
      responses: { 202: jsonResponse('Re-queued.', DeliveryWithAttempts), ...problems(400, 401, 403, 404) },
    }),
    async (c) => c.json(await retryDelivery(hooks, c.req.valid('param').id), 202),
  );
}
