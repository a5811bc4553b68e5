import type { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { logout } from '../auth/account.js';
import { findApiKey } from '../auth/api-keys.js';
import { login } from '../auth/login.js';
import { AppError } from '../errors.js';
import { problemTypes } from '../http/problem.js';
import {
  type ConsoleAuthDeps,
  type ConsoleEnv,
  clearConsoleCookie,
  consoleMeta,
  setConsoleCookie,
} from './auth.js';
import { SignInPage } from './pages/sign-in.js';

/** Where to go after signing in: a console path only (never another site). */
const safeNext = (next: unknown) =>
  typeof next === 'string' && /^\/console(\/[\w\-./%?=&]*)?$/.test(next) && !next.includes('//')
    ? next
    : '/console';

/**
 * Sign-in (an admin's email and password: a session like the API's login, with its events and
 * brute-force limits; or an API key with `webhooks:manage`) and sign-out (the session is revoked
 * like the API's logout).
 */
export function registerSignIn(web: Hono<ConsoleEnv>, deps: ConsoleAuthDeps): void {
  web.get('/sign-in', (c) => c.html(<SignInPage next={safeNext(c.req.query('next'))} />));
  web.post('/sign-in', async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(form.next);
    const email = typeof form.email === 'string' ? form.email : '';
    const refuse = (error: string, status: ContentfulStatusCode) =>
      c.html(<SignInPage next={next} email={email} error={error} />, status);
    if (typeof form.api_key === 'string') {
      const key = await findApiKey(deps.auth.db, form.api_key);
      if (!key?.scopes.includes('webhooks:manage')) {
        return refuse('That API key is not valid, or it lacks webhooks:manage.', 401);
      }
      setConsoleCookie(c, deps, { kind: 'key', keyId: key.id });
      return c.redirect(next, 303);
    }
    try {
      const tokens = await login(
        deps.auth,
        { email, password: String(form.password ?? '') },
        consoleMeta(c, deps.auth),
      );
      const state = await deps.auth.sessionStates.get(tokens.session_id);
      const userId = state?.userId ?? '';
      if (state?.role !== 'admin') {
        // A plain user's credentials are right, but they do not open the console: the session just
        // made is ended at once.
        await logout(
          deps.auth,
          { userId, sessionId: tokens.session_id, role: state?.role ?? '' },
          consoleMeta(c, deps.auth),
        );
        return refuse('This account cannot open the console: it needs the admin role.', 403);
      }
      setConsoleCookie(c, deps, { kind: 'session', sessionId: tokens.session_id, userId });
      return c.redirect(next, 303);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      if (error.retryAfterSeconds !== undefined)
        c.header('retry-after', String(Math.ceil(error.retryAfterSeconds)));
      return refuse(error.message, problemTypes[error.code].status as ContentfulStatusCode);
    }
  });
}

/**
 * Sign-out, behind the console's guard like every change (a live caller and the CSRF token): the
 * admin's session is revoked like the API's logout; an API key's cookie is only cleared.
 */
export function registerSignOut(web: Hono<ConsoleEnv>, deps: ConsoleAuthDeps): void {
  web.post('/sign-out', async (c) => {
    const caller = c.get('caller');
    if (!caller.apiKeyId) await logout(deps.auth, caller, consoleMeta(c, deps.auth));
    clearConsoleCookie(c, deps);
    return c.redirect('/console/sign-in', 303);
  });
}
