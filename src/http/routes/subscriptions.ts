import { createRoute, z } from '@hono/zod-openapi';
import { Timestamp } from '../../db/time.js';
import type { WebhookDeps } from '../../webhooks/context.js';
import { recoverDeliveries } from '../../webhooks/deliveries/requeue.js';
import { createSubscription } from '../../webhooks/subscriptions/create.js';
import { deleteSubscription } from '../../webhooks/subscriptions/delete.js';
import { getSubscription, listSubscriptions } from '../../webhooks/subscriptions/read.js';
import { rotateSecret } from '../../webhooks/subscriptions/rotate-secret.js';
import {
  CreateSubscriptionInput,
  PublicSubscription,
  PublicSubscriptionWithSecret,
  type SubscriptionState,
  toPublic,
  UpdateSubscriptionInput,
} from '../../webhooks/subscriptions/schema.js';
import { sendTestEvent } from '../../webhooks/subscriptions/test-event.js';
import { updateSubscription } from '../../webhooks/subscriptions/update.js';
import type { App } from '../app.js';
import { actorOf } from '../middleware/auth.js';
import { inBody, jsonBody, jsonResponse } from '../openapi.js';
import { problems } from '../problem.js';
import { IdParam } from '../schemas/auth.js';
import { type Guard, page, text } from './webhook-shared.js';

const base = '/v1/webhooks/subscriptions';
const SubscriptionQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.uuid().optional(),
  enabled: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
  event_type: text(128).optional().openapi({ description: 'Subscriptions that would receive this type.' }),
  url: text(2_048).optional().openapi({ description: 'Substring of the URL.' }),
});
const RecoverBody = z.object({ since: Timestamp, until: Timestamp.optional() }).openapi('RecoverRequest');
const withSecret = (made: SubscriptionState & { secret: string }) => ({
  ...toPublic(made),
  secret: made.secret,
});
const one = (description: string) => ({
  200: jsonResponse(description, PublicSubscription),
  ...problems(400, 401, 403, 404),
});

const routes = {
  create: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'post',
      path: base,
      summary: 'Subscribe a URL to event types; answers with the signing secret.',
      request: { body: jsonBody(CreateSubscriptionInput) },
      responses: { 201: jsonResponse('Created.', PublicSubscriptionWithSecret), ...problems(400, 401, 403) },
    }),
  list: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'get',
      path: base,
      summary: 'Subscriptions, newest first, filterable.',
      request: { query: SubscriptionQuery },
      responses: {
        200: jsonResponse('A page of subscriptions.', page(PublicSubscription, 'SubscriptionPage')),
        ...problems(400, 401, 403),
      },
    }),
  get: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'get',
      path: `${base}/{id}`,
      summary: 'One subscription.',
      request: { params: IdParam },
      responses: one('The subscription.'),
    }),
  update: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'patch',
      path: `${base}/{id}`,
      summary: 'Change a subscription.',
      request: { params: IdParam, body: jsonBody(UpdateSubscriptionInput) },
      responses: one('The subscription.'),
    }),
  delete: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'delete',
      path: `${base}/{id}`,
      summary: 'Delete a subscription and its deliveries.',
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted.' }, ...problems(400, 401, 403, 404) },
    }),
  rotate: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'post',
      path: `${base}/{id}/rotate-secret`,
      summary:
        'Make a new signing secret; the old one keeps signing during the overlap (both signatures sent).',
      request: { params: IdParam },
      responses: {
        200: jsonResponse('The subscription with its new secret.', PublicSubscriptionWithSecret),
        ...problems(400, 401, 403, 404),
      },
    }),
  test: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'post',
      path: `${base}/{id}/test`,
      summary: 'Send a `webhook.test` event to this subscription now.',
      request: { params: IdParam },
      responses: {
        202: jsonResponse('Queued.', z.object({ event_id: z.uuid(), delivery_id: z.uuid() })),
        ...problems(400, 401, 403, 404),
      },
    }),
  enable: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'post',
      path: `${base}/{id}/enable`,
      summary: 'Enable a subscription again (after fixing its endpoint); clears the disabled reason.',
      request: { params: IdParam },
      responses: one('The subscription.'),
    }),
  recover: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'post',
      path: `${base}/{id}/recover`,
      summary: 'Re-queue every dead delivery of this subscription created in [since, until).',
      request: { params: IdParam, body: jsonBody(RecoverBody) },
      responses: {
        202: jsonResponse('Re-queued.', z.object({ recovered: z.number().int() })),
        ...problems(400, 401, 403, 404),
      },
    }),
};

/** Making, reading, changing and deleting subscriptions. */
export function registerSubscriptionRoutes(app: App, guard: Guard, hooks: WebhookDeps): void {
  const deps = hooks.subscriptions;
  app.openapi(routes.create(guard), async (c) =>
    c.json(withSecret(await inBody(() => createSubscription(deps, c.req.valid('json')))), 201),
  );
  app.openapi(routes.list(guard), async (c) => {
    const { limit, cursor, enabled, event_type, url } = c.req.valid('query');
    const found = await listSubscriptions(deps, { limit, cursor, enabled, eventType: event_type, url });
    return c.json({ items: found.items.map(toPublic), next_cursor: found.nextCursor }, 200);
  });
  app.openapi(routes.get(guard), async (c) =>
    c.json(toPublic(await getSubscription(deps, c.req.valid('param').id)), 200),
  );
  app.openapi(routes.update(guard), async (c) => {
    const change = c.req.valid('json');
    return c.json(
      toPublic(await inBody(() => updateSubscription(deps, c.req.valid('param').id, change))),
      200,
    );
  });
  app.openapi(routes.delete(guard), async (c) => {
    await deleteSubscription(deps, c.req.valid('param').id);
    return c.body(null, 204);
  });
}

/** What an operator does to a subscription: rotate its secret, test it, enable it, recover its dead. */
export function registerSubscriptionActions(app: App, guard: Guard, hooks: WebhookDeps): void {
  const deps = hooks.subscriptions;
  app.openapi(routes.rotate(guard), async (c) =>
    c.json(withSecret(await rotateSecret(deps, c.req.valid('param').id)), 200),
  );
  app.openapi(routes.test(guard), async (c) => {
    const sent = await sendTestEvent(deps, c.req.valid('param').id, actorOf(c.get('caller')));
    return c.json({ event_id: sent.eventId, delivery_id: sent.deliveryId }, 202);
  });
  app.openapi(routes.enable(guard), async (c) =>
    c.json(toPublic(await updateSubscription(deps, c.req.valid('param').id, { enabled: true })), 200),
  );
  app.openapi(routes.recover(guard), async (c) =>
    c.json(await recoverDeliveries(deps, c.req.valid('param').id, c.req.valid('json')), 202),
  );
}
