import { createRoute, z } from '@hono/zod-openapi';
import type { AuthDeps } from '../../auth/context.js';
import type { WebhookDeps } from '../../webhooks/context.js';
import { getDelivery, listDeliveries } from '../../webhooks/deliveries/read.js';
import { retryDelivery } from '../../webhooks/deliveries/requeue.js';
import {
  deliveryMatchFields,
  matchOf,
  PublicDelivery,
  PublicDeliveryDetail,
  toPublicDelivery,
  toPublicDetail,
} from '../../webhooks/deliveries/schema.js';
import type { App } from '../app.js';
import { jsonResponse } from '../openapi.js';
import { problems } from '../problem.js';
import { IdParam } from '../schemas/auth.js';
import { registerReplayRoutes } from './replays.js';
import { registerSubscriptionActions, registerSubscriptionRoutes } from './subscriptions.js';
import { type Guard, guardOf, page } from './webhook-shared.js';

const DeliveryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.uuid().optional(),
  ...deliveryMatchFields,
});

const routes = {
  list: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'get',
      path: '/v1/webhooks/deliveries',
      summary:
        'Deliveries, newest first, by subscription, status, event type, time, user, event and HTTP status.',
      request: { query: DeliveryQuery },
      responses: {
        200: jsonResponse('A page of deliveries.', page(PublicDelivery, 'DeliveryPage')),
        ...problems(400, 401, 403),
      },
    }),
  get: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'get',
      path: '/v1/webhooks/deliveries/{id}',
      summary: 'One delivery with every attempt.',
      request: { params: IdParam },
      responses: {
        200: jsonResponse('The delivery.', PublicDeliveryDetail),
        ...problems(400, 401, 403, 404),
      },
    }),
  retry: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'post',
      path: '/v1/webhooks/deliveries/{id}/retry',
      summary: 'Send a delivery again now, whatever its status.',
      request: { params: IdParam },
      responses: { 202: jsonResponse('Re-queued.', PublicDeliveryDetail), ...problems(400, 401, 403, 404) },
    }),
};

/** The webhook API: subscriptions, their actions, deliveries (in the OpenAPI document's order). */
export function registerWebhookRoutes(app: App, auth: AuthDeps, hooks: WebhookDeps): void {
  const guard = guardOf(auth);
  registerSubscriptionRoutes(app, guard, hooks);
  registerSubscriptionActions(app, guard, hooks);
  registerDeliveryRoutes(app, guard, hooks);
  registerReplayRoutes(app, guard, hooks);
}

/** Reading deliveries and sending one again. */
function registerDeliveryRoutes(app: App, guard: Guard, hooks: WebhookDeps): void {
  app.openapi(routes.list(guard), async (c) => {
    const query = c.req.valid('query');
    const found = await listDeliveries(hooks, {
      limit: query.limit,
      cursor: query.cursor,
      ...matchOf(query),
    });
    return c.json({ items: found.items.map(toPublicDelivery), next_cursor: found.nextCursor }, 200);
  });
  app.openapi(routes.get(guard), async (c) =>
    c.json(toPublicDetail(await getDelivery(hooks, c.req.valid('param').id)), 200),
  );
  app.openapi(routes.retry(guard), async (c) =>
    c.json(toPublicDetail(await retryDelivery(hooks.subscriptions, c.req.valid('param').id)), 202),
  );
}
