import { createRoute, z } from '@hono/zod-openapi';
import { getUser } from '../../auth/account.js';
import { changeRole, listUsers } from '../../auth/admin-users.js';
import type { AuthDeps } from '../../auth/context.js';
import { listSessions, revokeUserSessions } from '../../auth/session-management.js';
import type { App } from '../app.js';
import { actorOf, requestMeta, requireAuth, requireRole } from '../middleware/auth.js';
import { problems } from '../problem.js';
import { IdParam, RoleBody, SessionSchema, UserSchema, UserSessionParams } from '../schemas/auth.js';

const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.uuid().optional().openapi({ description: '`next_cursor` of the previous page.' }),
  email: z
    .string()
    .trim()
    .min(1)
    .max(254)
    .optional()
    .openapi({ description: 'Case-insensitive substring of the email.' }),
});

/** Admins only: a bearer token of a live session with the admin role. */
const adminOnly = (deps: AuthDeps) => ({
  security: [{ bearer: [] }],
  middleware: [requireAuth(deps), requireRole('admin')],
  tags: ['admin'],
});
type AdminOnly = ReturnType<typeof adminOnly>;

const listUsersRoute = (admin: AdminOnly) =>
  createRoute({
    ...admin,
    method: 'get',
    path: '/v1/users',
    summary: 'Users, newest first, paginated, filterable by email (admin).',
    request: { query: ListQuery },
    responses: {
      200: {
        description: 'A page of users.',
        content: {
          'application/json': {
            schema: z
              .object({ items: z.array(UserSchema), next_cursor: z.uuid().nullable() })
              .openapi('UserPage'),
          },
        },
      },
      ...problems(400, 401, 403),
    },
  });

const getUserRoute = (admin: AdminOnly) =>
  createRoute({
    ...admin,
    method: 'get',
    path: '/v1/users/{id}',
    summary: 'One user (admin).',
    request: { params: IdParam },
    responses: {
      200: { description: 'The user.', content: { 'application/json': { schema: UserSchema } } },
      ...problems(400, 401, 403, 404),
    },
  });

const changeRoleRoute = (admin: AdminOnly) =>
  createRoute({
    ...admin,
    method: 'put',
    path: '/v1/users/{id}/role',
    summary: "Change a user's role; applies to their sessions at once (event: user.role.changed).",
    request: {
      params: IdParam,
      body: { content: { 'application/json': { schema: RoleBody } }, required: true },
    },
    responses: {
      200: {
        description: 'The user with the new role.',
        content: { 'application/json': { schema: UserSchema } },
      },
      ...problems(400, 401, 403, 404, 409),
    },
  });

const listSessionsRoute = (admin: AdminOnly) =>
  createRoute({
    ...admin,
    method: 'get',
    path: '/v1/users/{id}/sessions',
    summary: "A user's active sessions, newest first (admin).",
    request: { params: IdParam },
    responses: {
      200: {
        description: 'Active sessions.',
        content: { 'application/json': { schema: z.object({ items: z.array(SessionSchema) }) } },
      },
      ...problems(400, 401, 403, 404),
    },
  });

const revokeSessionsRoute = (admin: AdminOnly) =>
  createRoute({
    ...admin,
    method: 'delete',
    path: '/v1/users/{id}/sessions',
    summary: "Revoke all of a user's sessions (admin; events: user.session.revoked).",
    request: { params: IdParam },
    responses: {
      200: {
        description: 'How many sessions were revoked.',
        content: { 'application/json': { schema: z.object({ revoked: z.number().int() }) } },
      },
      ...problems(400, 401, 403, 404),
    },
  });

const revokeSessionRoute = (admin: AdminOnly) =>
  createRoute({
    ...admin,
    method: 'delete',
    path: '/v1/users/{id}/sessions/{sessionId}',
    summary: "Revoke one of a user's sessions (admin; event: user.session.revoked).",
    request: { params: UserSessionParams },
    responses: { 204: { description: 'Revoked.' }, ...problems(400, 401, 403, 404) },
  });

export function registerUserAdminRoutes(app: App, deps: AuthDeps): void {
  const admin = adminOnly(deps);
  registerUserRoutes(app, deps, admin);
  registerUserSessionRoutes(app, deps, admin);
}

function registerUserRoutes(app: App, deps: AuthDeps, admin: AdminOnly): void {
  const trust = deps.config.TRUST_PROXY_HOPS;
  app.openapi(listUsersRoute(admin), async (c) => c.json(await listUsers(deps, c.req.valid('query')), 200));
  app.openapi(getUserRoute(admin), async (c) => c.json(await getUser(deps, c.req.valid('param').id), 200));
  app.openapi(changeRoleRoute(admin), async (c) => {
    const caller = c.get('caller');
    const user = await changeRole(
      deps,
      { userId: c.req.valid('param').id, role: c.req.valid('json').role, actor: actorOf(caller) },
      requestMeta(c, trust),
    );
    return c.json(user, 200);
  });
}

function registerUserSessionRoutes(app: App, deps: AuthDeps, admin: AdminOnly): void {
  const trust = deps.config.TRUST_PROXY_HOPS;
  app.openapi(listSessionsRoute(admin), async (c) => {
    const { id } = c.req.valid('param');
    await getUser(deps, id);
    return c.json({ items: await listSessions(deps, id, c.get('caller').sessionId) }, 200);
  });
  app.openapi(revokeSessionsRoute(admin), async (c) => {
    const { id } = c.req.valid('param');
    await getUser(deps, id);
    const caller = c.get('caller');
    const revoked = await revokeUserSessions(deps, {
      userId: id,
      reason: 'revoked_by_admin',
      actor: actorOf(caller),
      meta: requestMeta(c, trust),
    });
    return c.json({ revoked }, 200);
  });
  app.openapi(revokeSessionRoute(admin), async (c) => {
    const { id, sessionId } = c.req.valid('param');
    const caller = c.get('caller');
    await revokeUserSessions(deps, {
      userId: id,
      sessionId,
      reason: 'revoked_by_admin',
      actor: actorOf(caller),
      meta: requestMeta(c, trust),
    });
    return c.body(null, 204);
  });
}
