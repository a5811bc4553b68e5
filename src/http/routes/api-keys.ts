import { createRoute, z } from '@hono/zod-openapi';
import { apiKeyScopes, createApiKey, deleteApiKey, getApiKey, listApiKeys } from '../../auth/api-keys.js';
import type { AuthDeps } from '../../auth/context.js';
import type { App } from '../app.js';
import { requireAuth, requireRole } from '../middleware/auth.js';
import { problems } from '../problem.js';
import { IdParam } from '../schemas/auth.js';

const ApiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    prefix: z.string().openapi({ description: 'The first characters of the key, to recognise it.' }),
    scopes: z.array(z.string()),
    created_at: z.iso.datetime(),
    last_used_at: z.iso.datetime().nullable(),
  })
  .openapi('ApiKey');

const NewApiKeySchema = ApiKeySchema.extend({
  key: z
    .string()
    .openapi({ description: 'The key itself, shown this once: send it as `Authorization: Bearer <key>`.' }),
}).openapi('NewApiKey');

const CreateBody = z
  .object({
    name: z.string().trim().min(1).max(100),
    scopes: z.array(z.enum(apiKeyScopes)).min(1),
  })
  .openapi('ApiKeyCreate');

/** Admins only: a bearer token of a live session with the admin role. */
const adminOnly = (deps: AuthDeps) => ({
  security: [{ bearer: [] }],
  middleware: [requireAuth(deps), requireRole('admin')],
  tags: ['api keys'],
});
type AdminOnly = ReturnType<typeof adminOnly>;

const createKeyRoute = (admin: AdminOnly) =>
  createRoute({
    ...admin,
    method: 'post',
    path: '/v1/api-keys',
    summary: 'Create an API key for another service (admin); the key is shown once.',
    request: { body: { content: { 'application/json': { schema: CreateBody } }, required: true } },
    responses: {
      201: { description: 'Created.', content: { 'application/json': { schema: NewApiKeySchema } } },
      ...problems(400, 401, 403),
    },
  });

const listKeysRoute = (admin: AdminOnly) =>
  createRoute({
    ...admin,
    method: 'get',
    path: '/v1/api-keys',
    summary: 'Live API keys, newest first (admin); never the keys themselves.',
    responses: {
      200: {
        description: 'API keys.',
        content: { 'application/json': { schema: z.object({ items: z.array(ApiKeySchema) }) } },
      },
      ...problems(401, 403),
    },
  });

const getKeyRoute = (admin: AdminOnly) =>
  createRoute({
    ...admin,
    method: 'get',
    path: '/v1/api-keys/{id}',
    summary: 'One API key (admin).',
    request: { params: IdParam },
    responses: {
      200: { description: 'The key.', content: { 'application/json': { schema: ApiKeySchema } } },
      ...problems(400, 401, 403, 404),
    },
  });

const deleteKeyRoute = (admin: AdminOnly) =>
  createRoute({
    ...admin,
    method: 'delete',
    path: '/v1/api-keys/{id}',
    summary: 'Revoke an API key (admin); it is refused from the next call on.',
    request: { params: IdParam },
    responses: { 204: { description: 'Revoked.' }, ...problems(400, 401, 403, 404) },
  });

export function registerApiKeyRoutes(app: App, deps: AuthDeps): void {
  const admin = adminOnly(deps);
  app.openapi(createKeyRoute(admin), async (c) => {
    const body = c.req.valid('json');
    return c.json(await createApiKey(deps.db, { ...body, createdBy: c.get('caller').userId }), 201);
  });
  app.openapi(listKeysRoute(admin), async (c) => c.json({ items: await listApiKeys(deps.db) }, 200));
  app.openapi(getKeyRoute(admin), async (c) =>
    c.json(await getApiKey(deps.db, c.req.valid('param').id), 200),
  );
  app.openapi(deleteKeyRoute(admin), async (c) => {
    await deleteApiKey(deps.db, c.req.valid('param').id);
    return c.body(null, 204);
  });
}
