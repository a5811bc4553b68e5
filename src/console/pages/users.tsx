import type { AuditEventView } from '../../audit/queries.js';
import type { PublicSession, PublicUser } from '../../auth/model.js';
import { Csrf, Field, Notice, Page, type PageContext, Table, when } from '../layout.js';

export function UsersPage(props: { ctx: PageContext; email: string; items: PublicUser[] }) {
  return (
    <Page title="Users" path="/console/users" ctx={props.ctx}>
      <form method="get" action="/console/users" class="card search" aria-label="Find a user">
        <Field name="email" label="Email contains" value={props.email} />
        <button type="submit">Find</button>
      </form>
      <Table head={['Email', 'Name', 'Role', 'Registered']}>
        {props.items.map((user) => (
          <tr>
            <td>
              <a href={`/console/users/${user.id}`}>{user.email}</a>
            </td>
            <td>{user.name ?? '—'}</td>
            <td>{user.role}</td>
            <td>{when(user.created_at)}</td>
          </tr>
        ))}
      </Table>
      {props.items.length === 0 && <p>No user matches.</p>}
    </Page>
  );
}

export function UserPage(props: {
  ctx: PageContext;
  user: PublicUser;
  sessions: PublicSession[];
  roles: string[];
  activity: AuditEventView[] | null;
  notice?: string;
  error?: string;
}) {
  const { user, ctx } = props;
  return (
    <Page title={user.email} path="/console/users" ctx={ctx}>
      <Notice text={props.notice} />
      <Notice text={props.error} kind="error" />
      <section class="card" aria-labelledby="role">
        <h2 id="role">Role</h2>
        <form method="post" action={`/console/users/${user.id}/role`}>
          <Csrf ctx={ctx} />
          <div class="field">
            <label for="f-role">Role</label>
            <select id="f-role" name="role">
              {props.roles.map((role) => (
                <option value={role} selected={role === user.role}>
                  {role}
                </option>
              ))}
            </select>
          </div>
          <button type="submit">Change role</button>
        </form>
      </section>
      <Sessions ctx={ctx} user={user} sessions={props.sessions} />
      <Activity activity={props.activity} />
    </Page>
  );
}

/** A user's active sessions, each revocable, and all at once. */
function Sessions(props: { ctx: PageContext; user: PublicUser; sessions: PublicSession[] }) {
  return (
    <section class="card" aria-labelledby="sessions">
      <h2 id="sessions">Active sessions</h2>
      {props.sessions.length === 0 ? (
        <p>No active session.</p>
      ) : (
        <>
          <Table head={['Session', 'IP', 'User agent', 'Last used', 'Action']}>
            {props.sessions.map((session) => (
              <tr>
                <td>
                  <code>{session.id}</code>
                </td>
                <td>{session.ip ?? '—'}</td>
                <td>{session.user_agent ?? '—'}</td>
                <td>{when(session.last_used_at)}</td>
                <td>
                  <form
                    method="post"
                    action={`/console/users/${props.user.id}/sessions/${session.id}/revoke`}
                    class="inline"
                  >
                    <Csrf ctx={props.ctx} />
                    <button type="submit" aria-label={`Revoke session ${session.id}`}>
                      Revoke
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </Table>
          <form method="post" action={`/console/users/${props.user.id}/sessions/revoke`}>
            <Csrf ctx={props.ctx} />
            <button type="submit">Revoke all sessions</button>
          </form>
        </>
      )}
    </section>
  );
}

/** What the audit store holds of the user (null: it cannot be read now). */
function Activity(props: { activity: AuditEventView[] | null }) {
  return (
    <section class="card" aria-labelledby="activity">
      <h2 id="activity">Activity (audit store)</h2>
      {props.activity === null ? (
        <p>The audit store cannot be read now.</p>
      ) : props.activity.length === 0 ? (
        <p>No recorded activity.</p>
      ) : (
        <Table head={['When', 'Event', 'IP', 'User agent']}>
          {props.activity.map((row) => (
            <tr>
              <td>{row.occurred_at}</td>
              <td>{row.type}</td>
              <td>{row.ip ?? '—'}</td>
              <td>{row.user_agent ?? '—'}</td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}
