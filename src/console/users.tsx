import type { Context, Hono } from 'hono';
import { listAuditEvents } from '../audit/queries.js';
import { getUser } from '../auth/account.js';
import { changeRole, listRoles, listUsers } from '../auth/admin-users.js';
import { listSessions, revokeUserSessions } from '../auth/session-management.js';
import { AppError } from '../errors.js';
import { actorOf } from '../http/middleware/auth.js';
import { type ConsoleEnv, consoleMeta, requireConsoleAdmin } from './auth.js';
import { backTo, formText, uuidParam } from './forms.js';
import { UserPage, UsersPage } from './pages/users.js';
import type { ConsoleDeps } from './routes.js';

/**
 * Users and their sessions (an admin's pages): find a user, see the active sessions, revoke one or
 * all (refused by the API from the next request on), change the role, read the activity the audit
 * store holds. The same verbs as the API's admin routes.
 */
export function registerUserPages(web: Hono<ConsoleEnv>, deps: ConsoleDeps): void {
  const { auth } = deps;
  web.use('/users', requireConsoleAdmin);
  web.use('/users/*', requireConsoleAdmin);
  const back = (c: Context<ConsoleEnv>, id: string, notice: string) => backTo(c, `/users/${id}`, notice);
  web.get('/users', async (c) => {
    const email = c.req.query('email') ?? '';
    const found = await listUsers(auth, { limit: 50, email: email || undefined });
    return c.html(<UsersPage ctx={c.get('page')} email={email} items={found.items} />);
  });
  web.get('/users/:id', async (c) => c.html(await userPage(c, deps, uuidParam(c, 'id'))));
  web.post('/users/:id/role', async (c) => {
    const id = uuidParam(c, 'id');
    const { role = '' } = formText(await c.req.parseBody());
    try {
      await changeRole(auth, { userId: id, role, actor: actorOf(c.get('caller')) }, consoleMeta(c, auth));
      return back(c, id, `Role changed to ${role}.`);
    } catch (error) {
      if (!(error instanceof AppError) || (error.code !== 'conflict' && error.code !== 'validation_failed'))
        throw error;
      return c.html(await userPage(c, deps, id, error.message), error.code === 'conflict' ? 409 : 400);
    }
  });
  web.post('/users/:id/sessions/:sessionId/revoke', async (c) => {
    const id = uuidParam(c, 'id');
    const sessionId = uuidParam(c, 'sessionId');
    const actor = actorOf(c.get('caller'));
    await revokeUserSessions(auth, {
      userId: id,
      sessionId,
      reason: 'revoked_by_admin',
      actor,
      meta: consoleMeta(c, auth),
    });
    return back(c, id, 'Session revoked: its tokens are refused from now on.');
  });
  web.post('/users/:id/sessions/revoke', async (c) => {
    const id = uuidParam(c, 'id');
    const actor = actorOf(c.get('caller'));
    const count = await revokeUserSessions(auth, {
      userId: id,
      reason: 'revoked_by_admin',
      actor,
      meta: consoleMeta(c, auth),
    });
    return back(c, id, `${count} sessions revoked.`);
  });
}

async function userPage(c: Context<ConsoleEnv>, deps: ConsoleDeps, id: string, error?: string) {
  const [user, sessions, roles] = await Promise.all([
    getUser(deps.auth, id),
    listSessions(deps.auth, id),
    listRoles(deps.auth),
  ]);
  // The audit store may be down: the page still shows the user and sessions.
  const activity = await listAuditEvents(deps.clickhouse, deps.config.AUDIT_DATABASE, {
    limit: 20,
    user_id: id,
  })
    .then((found) => found.items)
    .catch(() => null);
  return (
    <UserPage
      ctx={c.get('page')}
      user={user}
      sessions={sessions}
      roles={roles}
      activity={activity}
      notice={c.req.query('notice')}
      error={error}
    />
  );
}
