import type { Context, Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { logout } from '../auth/account.js';
import { findApiKey } from '../auth/api-keys.js';
import { login } from '../auth/login.js';
import { AppError } from '../errors.js';
import type { AppEnv } from '../http/app.js';
import { requestMeta } from '../http/middleware/auth.js';
import { problemTypes } from '../http/problem.js';
import { type ConsoleAuthDeps, type ConsoleEnv, clearConsoleCookie, setConsoleCookie } from './auth.js';
import { CONSOLE_COOKIE } from './cookies.js';
import { SignInPage } from './pages/sign-in.js';

/** Where to go after signing in: a console path only (never another site). */
const safeNext = (next: unknown) =>
  typeof next === 'string' && /^\/console(\/[\w\-./%?=&]*)?$/.test(next) && !next.includes('//')
    ? next
    : '/console';

const meta = (c: Context<ConsoleEnv>, deps: ConsoleAuthDeps) =>
  requestMeta(c as unknown as Context<AppEnv>, deps.auth.config.TRUST_PROXY_HOPS);

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
      const tokens = await login(deps.auth, { email, password: String(form.password ?? '') }, meta(c, deps));
      const state = await deps.auth.sessionStates.get(tokens.session_id);
      const userId = state?.userId ?? '';
      if (state?.role !== 'admin') {
        // A plain user's credentials are right, but they do not open the console: the session just
        // made is ended at once.
        await logout(
          deps.auth,
          { userId, sessionId: tokens.session_id, role: state?.role ?? '' },
          meta(c, deps),
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
  web.post('/sign-out', async (c) => {
    const identity = deps.cookies.read(getCookie(c, CONSOLE_COOKIE));
    const form = await c.req.parseBody();
    const cookie = getCookie(c, CONSOLE_COOKIE) ?? '';
    if (
      !identity ||
      !deps.cookies.checkCsrf(cookie, typeof form._csrf === 'string' ? form._csrf : undefined)
    ) {
      throw new AppError('forbidden', 'The form is missing its CSRF token, or it is not this session’s.');
    }
    if (identity.kind === 'session') {
      await logout(
        deps.auth,
        { userId: identity.userId, sessionId: identity.sessionId, role: '' },
        meta(c, deps),
      );
    }
    clearConsoleCookie(c, deps);
    return c.redirect('/console/sign-in', 303);
  });
}
