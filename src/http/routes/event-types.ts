import { createRoute, z } from '@hono/zod-openapi';
import { describeEventTypes } from '../../events/docs.js';
import type { App } from '../app.js';

const EventTypeSchema = z
  .object({
    type: z.string().openapi({ example: 'user.registered' }),
    topic: z.string().openapi({ example: 'user-changes' }),
    description: z.string(),
    schema: z
      .record(z.string(), z.unknown())
      .openapi({ description: 'JSON Schema (2020-12) of the event `data`.' }),
  })
  .openapi('EventType');

export function registerEventTypeRoutes(app: App): void {
  const body = { items: describeEventTypes() };
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/event-types',
      tags: ['events'],
      summary: 'Every event type with its topic, description and the JSON Schema of its data.',
      responses: {
        200: {
          description: 'The event catalogue.',
          content: { 'application/json': { schema: z.object({ items: z.array(EventTypeSchema) }) } },
        },
      },
    }),
    (c) => c.json(body, 200),
  );
}
