import { and, count, desc, eq, ilike, lt, sql } from 'drizzle-orm';
import { escapeLike } from '../db/like.js';
import { roles, users } from '../db/schema/index.js';
import { AppError } from '../errors.js';
import type { Actor } from '../events/catalog.js';
import { buildEvent, type RequestMeta } from '../events/envelope.js';
import { enqueueEvents } from '../events/outbox.js';
import type { AuthDeps } from './context.js';
import { normaliseEmail, type PublicUser, publicUser } from './model.js';

/** Users, newest first, by keyset pagination on the time-ordered id; `email` filters by substring. */
export async function listUsers(
  deps: AuthDeps,
  input: { limit: number; cursor?: string | undefined; email?: string | undefined },
): Promise<{ items: PublicUser[]; next_cursor: string | null }> {
  const conditions = [];
  if (input.cursor) conditions.push(lt(users.id, input.cursor));
  if (input.email) conditions.push(ilike(users.email, `%${escapeLike(normaliseEmail(input.email))}%`));
  const rows = await deps.db
    .select()
    .from(users)
    .where(conditions.length > 0 ? and(...conditions) : undefined)
    .orderBy(desc(users.id))
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  return { items: page.map(publicUser), next_cursor: rows.length > input.limit && last ? last.id : null };
}

export async function listRoles(deps: AuthDeps): Promise<string[]> {
  const rows = await deps.db.select({ name: roles.name }).from(roles).orderBy(roles.name);
  return rows.map((row) => row.name);
}

/**
 * Changes a user's role; it applies to the user's existing sessions from their next request. The
 * last admin cannot be demoted (409), so the platform always keeps one.
 */
export async function changeRole(
  deps: AuthDeps,
  input: { userId: string; role: string; actor: Actor },
  meta: RequestMeta,
): Promise<PublicUser> {
  const known = await listRoles(deps);
  if (!known.includes(input.role)) {
    throw new AppError('validation_failed', `Unknown role; valid roles: ${known.join(', ')}.`, {
      fieldErrors: [
        { field: 'body.role', message: `must be one of: ${known.join(', ')}`, code: 'invalid_value' },
      ],
    });
  }
  const { user, changed } = await deps.db.transaction(async (tx) => {
    const [current] = await tx.select().from(users).where(eq(users.id, input.userId)).for('update');
    if (!current) throw new AppError('not_found', 'No such user.');
    if (current.role === input.role) return { user: current, changed: false };
    if (current.role === 'admin') {
      // Serialise demotions so two admins demoting each other cannot leave none.
      await tx.execute(sql`SELECT pg_advisory_xact_lock(7245002)`);
      const [admins] = await tx.select({ n: count() }).from(users).where(eq(users.role, 'admin'));
      if ((admins?.n ?? 0) <= 1) throw new AppError('conflict', 'The last admin cannot be demoted.');
    }
    const [updated] = await tx
      .update(users)
      .set({ role: input.role, updatedAt: new Date() })
      .where(eq(users.id, input.userId))
      .returning();
    await enqueueEvents(tx, [
      buildEvent({
        type: 'user.role.changed',
        userId: input.userId,
        actor: input.actor,
        meta,
        data: { from: current.role, to: input.role, by: input.actor },
      }),
    ]);
    return { user: updated ?? current, changed: true };
  });
  if (changed) await deps.sessionStates.refreshUser(input.userId);
  return publicUser(user);
}
