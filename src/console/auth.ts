import { eq } from 'drizzle-orm';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { Caller } from '../auth/account.js';
import { findApiKeyById } from '../auth/api-keys.js';
import type { AuthDeps } from '../auth/context.js';
import { users } from '../db/schema/index.js';
import { AppError } from '../errors.js';
import type { AppEnv } from '../http/app.js';
import { requestMeta } from '../http/middleware/auth.js';
import { CONSOLE_COOKIE, type ConsoleCookies, type ConsoleIdentity } from './cookies.js';
import type { PageContext } from './layout.js';

/** Per-request values of the console: the caller and what its pages need. */
export type ConsoleEnv = {
  Variables: { requestId: string; caller: Caller; page: PageContext; cookie: string };
};

export interface ConsoleAuthDeps {
  auth: AuthDeps;
  cookies: ConsoleCookies;
  /** Whether the console is served over https (then the cookie is `Secure`). */
  secure: (c: Context) => boolean;
}

/**
 * Whether the console is served over https: the request's own URL, or the public address the platform
 * is reached at (PUBLIC_BASE_URL, behind a proxy that ends TLS).
 */
export function servedOverHttps(requestUrl: string, publicBaseUrl: string | undefined): boolean {
  return new URL(requestUrl).protocol === 'https:' || publicBaseUrl?.startsWith('https:') === true;
}

/** Sets the console's cookie: HttpOnly, SameSite=Strict, Secure over https, for the console's path. */
export function setConsoleCookie(c: Context, deps: ConsoleAuthDeps, identity: ConsoleIdentity): void {
  setCookie(c, CONSOLE_COOKIE, deps.cookies.issue(identity), {
    httpOnly: true,
    sameSite: 'Strict',
    secure: deps.secure(c),
    path: '/console',
  });
}

export function clearConsoleCookie(c: Context, deps: ConsoleAuthDeps): void {
  setCookie(c, CONSOLE_COOKIE, '', {
    httpOnly: true,
    sameSite: 'Strict',
    secure: deps.secure(c),
    path: '/console',
    maxAge: 0,
  });
}

/**
 * Requires a console cookie of a live admin session (checked on every request through the same
 * session state as the API: a revoked session or a demoted admin is out at once), or of an API key
 * that holds `webhooks:manage` and is not revoked. Every state change (any method but GET and HEAD)
 * must carry the CSRF token of that cookie in the form field `_csrf` (or the `x-csrf-token` header),
 * or it is refused with 403. Without a valid cookie, a page redirects to the sign-in.
 */
export function requireConsole(deps: ConsoleAuthDeps): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => {
    const cookie = getCookie(c, CONSOLE_COOKIE) ?? '';
    const identity = deps.cookies.read(cookie);
    const found = identity && (await callerOf(deps.auth, identity));
    if (!found) {
      if (c.req.method === 'GET' || c.req.method === 'HEAD') {
        return c.redirect(`/console/sign-in?next=${encodeURIComponent(c.req.path)}`, 303);
      }
      throw new AppError('unauthenticated', 'Sign in to the console first.');
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const form = c.req.header('content-type')?.includes('form') ? await c.req.parseBody() : {};
      const token = typeof form._csrf === 'string' ? form._csrf : c.req.header('x-csrf-token');
      if (!deps.cookies.checkCsrf(cookie, token)) {
        throw new AppError('forbidden', 'The form is missing its CSRF token, or it is not this session’s.');
      }
    }
    c.set('caller', found.caller);
    c.set('cookie', cookie);
    c.set('page', {
      who: found.who,
      admin: found.caller.role === 'admin',
      csrf: deps.cookies.csrfToken(cookie),
    });
    await next();
    return undefined;
  };
}

/** Where a console request came from, for the events it causes (as the API's `requestMeta`). */
export const consoleMeta = (c: Context<ConsoleEnv>, auth: AuthDeps) =>
  requestMeta(c as unknown as Context<AppEnv>, auth.config.TRUST_PROXY_HOPS);

/** Users and sessions are an admin's, not an API key's. */
export const requireConsoleAdmin: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
  if (c.get('caller').role !== 'admin') throw new AppError('forbidden', 'Users and sessions need an admin.');
  await next();
};

async function callerOf(
  auth: AuthDeps,
  identity: ConsoleIdentity,
): Promise<{ caller: Caller; who: string } | null> {
  if (identity.kind === 'session') {
    const state = await auth.sessionStates.get(identity.sessionId);
    if (!state || state.userId !== identity.userId || state.revoked || state.expiresAt <= Date.now())
      return null;
    if (state.role !== 'admin') return null;
    const [user] = await auth.db.select({ email: users.email }).from(users).where(eq(users.id, state.userId));
    return {
      caller: { userId: state.userId, sessionId: identity.sessionId, role: 'admin' },
      who: user?.email ?? 'admin',
    };
  }
  const key = await findApiKeyById(auth.db, identity.keyId);
  if (!key?.scopes.includes('webhooks:manage')) return null;
  return {
    caller: { userId: key.createdBy ?? key.id, sessionId: '', role: 'api_key', apiKeyId: key.id },
    who: `API key ${key.name}`,
  };
}
