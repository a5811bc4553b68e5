import { createRoute, z } from '@hono/zod-openapi';
import type { AuthDeps } from '../../auth/context.js';
import type { WebhookDeps } from '../../webhooks/context.js';
import { getDelivery, listDeliveries, retryDelivery } from '../../webhooks/deliveries.js';
import type { App } from '../app.js';
import { jsonResponse } from '../openapi.js';
import { problems } from '../problem.js';
import { IdParam } from '../schemas/auth.js';
import { Timestamp } from '../schemas/time.js';
import { registerSubscriptionActions, registerSubscriptionRoutes } from './subscriptions.js';
import { type Guard, guardOf, page, text } from './webhook-shared.js';

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

const DeliveryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.uuid().optional(),
  subscription_id: z.uuid().optional(),
  status: z.enum(['pending', 'failed-retrying', 'succeeded', 'dead']).optional(),
  event_type: text(128).optional(),
  from: Timestamp.optional(),
  to: Timestamp.optional(),
});

/** The webhook API: subscriptions, their actions, deliveries (in the OpenAPI document's order). */
export function registerWebhookRoutes(app: App, auth: AuthDeps, hooks: WebhookDeps): void {
  const guard = guardOf(auth);
  registerSubscriptionRoutes(app, guard, hooks);
  registerSubscriptionActions(app, guard, hooks);
  registerDeliveryRoutes(app, guard, hooks);
}

/** Reading deliveries and sending one again. */
function registerDeliveryRoutes(app: App, guard: Guard, hooks: WebhookDeps): void {
  app.openapi(
    createRoute({
      ...guard,
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
      ...guard,
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
      ...guard,
      method: 'post',
      path: '/v1/webhooks/deliveries/{id}/retry',
      summary: 'Send a delivery again now, whatever its status.',
      request: { params: IdParam },
      responses: { 202: jsonResponse('Re-queued.', DeliveryWithAttempts), ...problems(400, 401, 403, 404) },
    }),
    async (c) => c.json(await retryDelivery(hooks, c.req.valid('param').id), 202),
  );
}
