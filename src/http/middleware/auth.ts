import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import type { Caller } from '../../auth/account.js';
import { API_KEY_PREFIX, type ApiKeyScope, findApiKey, touchApiKey } from '../../auth/api-keys.js';
import type { AuthDeps } from '../../auth/context.js';
import { touchSession } from '../../auth/login.js';
import { AppError } from '../../errors.js';
import type { Actor } from '../../events/catalog.js';
import type { RequestMeta } from '../../events/envelope.js';
import type { AppEnv } from '../app.js';

/**
 * Client IP. Behind `trustedHops` proxies it is the address the outermost trusted proxy saw: the
 * `trustedHops`-th X-Forwarded-For entry from the right. Entries further left are written by the
 * client and never trusted. With no trusted proxy, the socket's peer.
 */
export function clientIp(c: Context, trustedHops: number): string | null {
  if (trustedHops > 0) {
    const entries = (c.req.header('x-forwarded-for') ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    const forwarded = entries[entries.length - trustedHops];
    if (forwarded) return forwarded.slice(0, 64);
  }
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}

/** Where the request came from, for the events it causes. */
export function requestMeta(c: Context<AppEnv>, trustedHops: number): RequestMeta {
  return {
    ip: clientIp(c, trustedHops),
    userAgent: c.req.header('user-agent')?.slice(0, 512) ?? null,
    requestId: c.get('requestId') ?? null,
  };
}

const unauthenticated = (detail: string) => new AppError('unauthenticated', detail);

/**
 * Requires a valid bearer access token on a live session. The session's state (revoked, expired, the
 * user's current role) is read through the Redis cache on every request, so revoking a session,
 * logging out, changing the password or the role takes effect on the very next request.
 */
/** The token of an `Authorization: Bearer <token>` header, if there is one. */
const bearerToken = (c: Context): string | undefined =>
  /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];

export function requireAuth(deps: AuthDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c);
    if (!token) {
      c.header('www-authenticate', 'Bearer');
      throw unauthenticated('A bearer access token is required.');
    }
    const verified = await deps.tokens.verify(token);
    if (!verified.ok) {
      c.header('www-authenticate', 'Bearer error="invalid_token"');
      throw unauthenticated(`The access token is not valid: ${verified.reason}.`);
    }
    const { userId, sessionId } = verified.claims;
    const state = await deps.sessionStates.get(sessionId);
    if (!state || state.userId !== userId || state.revoked || state.expiresAt <= Date.now()) {
      c.header('www-authenticate', 'Bearer error="invalid_token"');
      throw unauthenticated('The session has ended; sign in again.');
    }
    c.set('caller', { userId, sessionId, role: state.role });
    await next();
    void touchSession(deps, sessionId).catch(() => {});
  };
}

/** Requires one of the given roles (after requireAuth). */
export function requireRole(...roles: string[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!roles.includes(c.get('caller').role))
      throw new AppError('forbidden', `This needs the role: ${roles.join(' or ')}.`);
    await next();
  };
}

/**
 * Allows an admin (bearer access token of a live session with the admin role) or an API key
 * (`Authorization: Bearer hlk_…`) that holds `scope`. The key is checked on every call.
 */
export function requireAdminOrScope(deps: AuthDeps, scope: ApiKeyScope): MiddlewareHandler<AppEnv> {
  const userAuth = requireAuth(deps);
  const adminOnly = requireRole('admin');
  return async (c, next) => {
    const token = bearerToken(c);
    if (token?.startsWith(API_KEY_PREFIX)) {
      const key = await findApiKey(deps.db, token);
      if (!key) {
        c.header('www-authenticate', 'Bearer error="invalid_token"');
        throw unauthenticated('The API key is not valid or was revoked.');
      }
      if (!key.scopes.includes(scope))
        throw new AppError('forbidden', `This API key lacks the scope ${scope}.`);
      c.set('caller', { userId: key.createdBy ?? key.id, sessionId: '', role: 'api_key', apiKeyId: key.id });
      if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > 60_000)
        void touchApiKey(deps.db, key.id).catch(() => {});
      await next();
      return;
    }
    await userAuth(c, async () => {
      await adminOnly(c, next);
    });
  };
}

/** Who acted, for events and audit: the admin user, or the API key. */
export function actorOf(caller: Caller): Actor {
  return caller.apiKeyId ? { type: 'api_key', id: caller.apiKeyId } : { type: 'admin', id: caller.userId };
}
