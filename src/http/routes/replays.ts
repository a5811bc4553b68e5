import { createRoute, z } from '@hono/zod-openapi';
import type { WebhookDeps } from '../../webhooks/context.js';
import { getReplay, listReplays, startReplay } from '../../webhooks/replays/replays.js';
import { DryRun, PublicReplay, StartReplayInput, toPublicReplay } from '../../webhooks/replays/schema.js';
import type { App } from '../app.js';
import { actorOf } from '../middleware/auth.js';
import { inBody, jsonBody, jsonResponse } from '../openapi.js';
import { problems } from '../problem.js';
import { IdParam } from '../schemas/auth.js';
import type { Guard } from './webhook-shared.js';

const base = '/v1/webhooks/replays';

const routes = {
  start: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'post',
      path: base,
      summary:
        'Send again every delivery a filter matches (dead ones unless `status` says otherwise), as a tracked job; `dry_run` only counts them.',
      description:
        'Started again with the same filter while it runs, it answers the running replay (200) instead of starting a second. A replay sends each delivery at most once, and never one that changed after it started.',
      request: { body: jsonBody(StartReplayInput) },
      responses: {
        200: jsonResponse(
          'The count of a dry run, or the replay already running with this filter.',
          z.union([DryRun, PublicReplay]),
        ),
        202: jsonResponse('Started.', PublicReplay),
        ...problems(400, 401, 403),
      },
    }),
  list: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'get',
      path: base,
      summary: 'The latest replays, newest first.',
      responses: {
        200: jsonResponse('Replays.', z.object({ items: z.array(PublicReplay) }).openapi('ReplayList')),
        ...problems(401, 403),
      },
    }),
  get: (guard: Guard) =>
    createRoute({
      ...guard,
      method: 'get',
      path: `${base}/{id}`,
      summary: 'One replay and its progress.',
      request: { params: IdParam },
      responses: { 200: jsonResponse('The replay.', PublicReplay), ...problems(400, 401, 403, 404) },
    }),
};

/** Bulk replays of deliveries by filter. */
export function registerReplayRoutes(app: App, guard: Guard, hooks: WebhookDeps): void {
  app.openapi(routes.start(guard), async (c) => {
    const input = c.req.valid('json');
    const started = await inBody(() => startReplay(hooks, input, actorOf(c.get('caller'))));
    if (started.dryRun) return c.json({ dry_run: true as const, count: started.count }, 200);
    return c.json(toPublicReplay(started.replay), started.created ? 202 : 200);
  });
  app.openapi(routes.list(guard), async (c) =>
    c.json({ items: (await listReplays(hooks)).map(toPublicReplay) }, 200),
  );
  app.openapi(routes.get(guard), async (c) =>
    c.json(toPublicReplay(await getReplay(hooks, c.req.valid('param').id)), 200),
  );
}
