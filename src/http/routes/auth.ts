import { createRoute } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { logout } from '../../auth/account.js';
import type { AuthDeps } from '../../auth/context.js';
import { login } from '../../auth/login.js';
import { refresh } from '../../auth/refresh.js';
import { register } from '../../auth/register.js';
import type { App, AppEnv } from '../app.js';
import { requestMeta, requireAuth } from '../middleware/auth.js';
import { jsonBody } from '../openapi.js';
import { problems } from '../problem.js';
import { LoginBody, RefreshBody, RegisterBody, TokenPairSchema, UserSchema } from '../schemas/auth.js';

/** Answers carrying tokens must never be stored by a cache (RFC 6749 §5.1, RFC 9111 §5.2.2.5). */
const noStore: MiddlewareHandler<AppEnv> = async (c, next) => {
  c.header('cache-control', 'no-store');
  await next();
};
const noStoreHeader = {
  'Cache-Control': {
    description: 'Always `no-store`: the tokens must not be cached.',
    schema: { type: 'string' as const, enum: ['no-store'] },
  },
};

const registerRoute = createRoute({
  method: 'post',
  path: '/v1/auth/register',
  tags: ['auth'],
  summary: 'Register a user (event: user.registered).',
  request: { body: jsonBody(RegisterBody) },
  responses: {
    201: { description: 'Registered.', content: { 'application/json': { schema: UserSchema } } },
    ...problems(400, 409, 413, 415, 429),
  },
});

const loginRoute = createRoute({
  method: 'post',
  path: '/v1/auth/login',
  tags: ['auth'],
  summary: 'Sign in with email and password; creates a session (events: user.login, user.login.failed).',
  request: { body: jsonBody(LoginBody) },
  middleware: [noStore],
  responses: {
    200: {
      description: 'Signed in.',
      headers: noStoreHeader,
      content: { 'application/json': { schema: TokenPairSchema } },
    },
    ...problems(400, 401, 429),
  },
});

const refreshRoute = createRoute({
  method: 'post',
  path: '/v1/auth/refresh',
  tags: ['auth'],
  summary:
    'Exchange a refresh token for new tokens; the refresh token rotates (event: user.token.refreshed).',
  description:
    'Presenting an already-used refresh token revokes its session (event: user.session.revoked, reason refresh_token_reuse).',
  request: { body: jsonBody(RefreshBody) },
  middleware: [noStore],
  responses: {
    200: {
      description: 'New tokens.',
      headers: noStoreHeader,
      content: { 'application/json': { schema: TokenPairSchema } },
    },
    ...problems(400, 401),
  },
});

/** Its middleware needs the deps (a bearer token of a live session), so it is made at registration. */
const logoutRoute = (deps: AuthDeps) =>
  createRoute({
    method: 'post',
    path: '/v1/auth/logout',
    tags: ['auth'],
    summary: 'Sign out: revokes the current session (event: user.logout).',
    security: [{ bearer: [] }],
    middleware: [requireAuth(deps)],
    responses: { 204: { description: 'Signed out.' }, ...problems(401) },
  });

export function registerAuthRoutes(app: App, deps: AuthDeps): void {
  const trust = deps.config.TRUST_PROXY_HOPS;
  app.openapi(registerRoute, async (c) => {
    const body = c.req.valid('json');
    const user = await register(deps, body, requestMeta(c, trust));
    return c.json(user, 201);
  });
  app.openapi(loginRoute, async (c) =>
    c.json(await login(deps, c.req.valid('json'), requestMeta(c, trust)), 200),
  );
  app.openapi(refreshRoute, async (c) =>
    c.json(
      await refresh(deps, { refreshToken: c.req.valid('json').refresh_token }, requestMeta(c, trust)),
      200,
    ),
  );
  app.openapi(logoutRoute(deps), async (c) => {
    await logout(deps, c.get('caller'), requestMeta(c, trust));
    return c.body(null, 204);
  });
}
