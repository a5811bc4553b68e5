import { createRoute, z } from '@hono/zod-openapi';
import { changePassword, getUser, updateProfile } from '../../auth/account.js';
import type { AuthDeps } from '../../auth/context.js';
import { listSessions, revokeUserSessions } from '../../auth/session-management.js';
import type { App } from '../app.js';
import { requestMeta, requireAuth } from '../middleware/auth.js';
import { jsonBody } from '../openapi.js';
import { problems } from '../problem.js';
import { IdParam, PasswordChangeBody, ProfileBody, SessionSchema, UserSchema } from '../schemas/auth.js';

/** Any signed-in user: a bearer token of a live session. */
const signedIn = (deps: AuthDeps) => ({
  security: [{ bearer: [] }],
  middleware: [requireAuth(deps)],
  tags: ['me'],
});
type SignedIn = ReturnType<typeof signedIn>;

const getMeRoute = (authed: SignedIn) =>
  createRoute({
    ...authed,
    method: 'get',
    path: '/v1/me',
    summary: 'The signed-in user.',
    responses: {
      200: { description: 'The user.', content: { 'application/json': { schema: UserSchema } } },
      ...problems(401),
    },
  });

const updateMeRoute = (authed: SignedIn) =>
  createRoute({
    ...authed,
    method: 'patch',
    path: '/v1/me',
    summary: 'Update profile fields (event: user.profile.updated, with old and new values).',
    request: { body: jsonBody(ProfileBody) },
    responses: {
      200: { description: 'The updated user.', content: { 'application/json': { schema: UserSchema } } },
      ...problems(400, 401),
    },
  });

const changePasswordRoute = (authed: SignedIn) =>
  createRoute({
    ...authed,
    method: 'post',
    path: '/v1/me/password',
    summary: 'Change the password; every other session is revoked (event: user.password.changed).',
    request: { body: jsonBody(PasswordChangeBody) },
    responses: { 204: { description: 'Changed.' }, ...problems(400, 401, 429) },
  });

const listSessionsRoute = (authed: SignedIn) =>
  createRoute({
    ...authed,
    method: 'get',
    path: '/v1/me/sessions',
    summary: "The caller's active sessions, newest first.",
    responses: {
      200: {
        description: 'Active sessions.',
        content: { 'application/json': { schema: z.object({ items: z.array(SessionSchema) }) } },
      },
      ...problems(401),
    },
  });

const revokeSessionRoute = (authed: SignedIn) =>
  createRoute({
    ...authed,
    method: 'delete',
    path: '/v1/me/sessions/{id}',
    summary: 'Revoke one of your sessions (event: user.session.revoked).',
    request: { params: IdParam },
    responses: { 204: { description: 'Revoked.' }, ...problems(400, 401, 404) },
  });

const revokeOtherSessionsRoute = (authed: SignedIn) =>
  createRoute({
    ...authed,
    method: 'delete',
    path: '/v1/me/sessions',
    summary: 'Revoke all your sessions except the current one (events: user.session.revoked).',
    responses: { 204: { description: 'Revoked.' }, ...problems(401) },
  });

export function registerMeRoutes(app: App, deps: AuthDeps): void {
  const authed = signedIn(deps);
  registerProfileRoutes(app, deps, authed);
  registerSessionRoutes(app, deps, authed);
}

function registerProfileRoutes(app: App, deps: AuthDeps, authed: SignedIn): void {
  const trust = deps.config.TRUST_PROXY_HOPS;
  app.openapi(getMeRoute(authed), async (c) => c.json(await getUser(deps, c.get('caller').userId), 200));
  app.openapi(updateMeRoute(authed), async (c) =>
    c.json(await updateProfile(deps, c.get('caller'), c.req.valid('json'), requestMeta(c, trust)), 200),
  );
  app.openapi(changePasswordRoute(authed), async (c) => {
    const body = c.req.valid('json');
    await changePassword(
      deps,
      c.get('caller'),
      { currentPassword: body.current_password, newPassword: body.new_password },
      requestMeta(c, trust),
    );
    return c.body(null, 204);
  });
}

function registerSessionRoutes(app: App, deps: AuthDeps, authed: SignedIn): void {
  const trust = deps.config.TRUST_PROXY_HOPS;
  app.openapi(listSessionsRoute(authed), async (c) => {
    const caller = c.get('caller');
    return c.json({ items: await listSessions(deps, caller.userId, caller.sessionId) }, 200);
  });
  app.openapi(revokeSessionRoute(authed), async (c) => {
    const caller = c.get('caller');
    await revokeUserSessions(deps, {
      userId: caller.userId,
      sessionId: c.req.valid('param').id,
      reason: 'revoked_by_user',
      actor: { type: 'user', id: caller.userId },
      meta: requestMeta(c, trust),
    });
    return c.body(null, 204);
  });
  app.openapi(revokeOtherSessionsRoute(authed), async (c) => {
    const caller = c.get('caller');
    await revokeUserSessions(deps, {
      userId: caller.userId,
      exceptSessionId: caller.sessionId,
      reason: 'other_sessions_revoked',
      actor: { type: 'user', id: caller.userId },
      meta: requestMeta(c, trust),
    });
    return c.body(null, 204);
  });
}
