import { eq } from 'drizzle-orm';
import { users } from '../db/schema/index.js';
import { AppError } from '../errors.js';
import { buildEvent, type RequestMeta } from '../events/envelope.js';
import { enqueueEvents } from '../events/outbox.js';
import type { AuthDeps } from './context.js';
import { type PublicUser, publicUser } from './model.js';
import { passwordProblem } from './passwords.js';
import { afterRevoke, revokeSessions } from './sessions.js';

/** The caller, as identified by a valid access token on a live session. */
export interface Caller {
  userId: string;
  sessionId: string;
  role: string;
  /** Set when the caller is an API key rather than a user's session. */
  apiKeyId?: string;
}

export const profileFields = ['name', 'locale', 'timezone'] as const;
export type ProfileField = (typeof profileFields)[number];
export type ProfileChanges = Partial<Record<ProfileField, string | null>>;

export async function getUser(deps: AuthDeps, userId: string): Promise<PublicUser> {
  const [user] = await deps.db.select().from(users).where(eq(users.id, userId));
  if (!user) throw new AppError('not_found', 'No such user.');
  return publicUser(user);
}

/** Updates profile fields; the event lists each field that really changed, with old and new values. */
export async function updateProfile(
  deps: AuthDeps,
  caller: Caller,
  changes: ProfileChanges,
  meta: RequestMeta,
): Promise<PublicUser> {
  const updated = await deps.db.transaction(async (tx) => {
    const [current] = await tx.select().from(users).where(eq(users.id, caller.userId)).for('update');
    if (!current) throw new AppError('not_found', 'No such user.');
    const changed: Record<string, { old: string | null; new: string | null }> = {};
    for (const field of profileFields) {
      const next = changes[field];
      if (next !== undefined && next !== current[field]) changed[field] = { old: current[field], new: next };
    }
    if (Object.keys(changed).length === 0) return current;
    const values = Object.fromEntries(Object.entries(changed).map(([field, change]) => [field, change.new]));
    const [user] = await tx
      .update(users)
      .set({ ...values, updatedAt: new Date() })
      .where(eq(users.id, caller.userId))
      .returning();
    await enqueueEvents(tx, [
      buildEvent({
        type: 'user.profile.updated',
        userId: caller.userId,
        actor: { type: 'user', id: caller.userId },
        meta,
        data: { changes: changed },
      }),
    ]);
    return user ?? current;
  });
  return publicUser(updated);
}

/** Changes the password after checking the current one; every other session of the user is revoked. */
export async function changePassword(
  deps: AuthDeps,
  caller: Caller,
  input: { currentPassword: string; newPassword: string },
  meta: RequestMeta,
): Promise<void> {
  const [user] = await deps.db.select().from(users).where(eq(users.id, caller.userId));
  if (!user) throw new AppError('not_found', 'No such user.');
  const decision = await deps.passwordLimiter.admit(user.email, meta.ip, user.id);
  if (!decision.allowed) {
    deps.metrics.rateLimited.inc({ limit: `password_${decision.limit}` });
    throw new AppError('rate_limited', 'Too many wrong current passwords; try again later.', {
      retryAfterSeconds: decision.retryAfterSeconds,
    });
  }
  if (!(await deps.hasher.verify(user.passwordHash, input.currentPassword))) {
    throw new AppError('validation_failed', 'The current password is incorrect.', {
      fieldErrors: [{ field: 'body.current_password', message: 'is incorrect', code: 'incorrect' }],
    });
  }
  const problem = passwordProblem(input.newPassword);
  if (problem) {
    throw new AppError('validation_failed', `new_password ${problem}`, {
      fieldErrors: [{ field: 'body.new_password', message: problem, code: 'weak_password' }],
    });
  }
  await deps.passwordLimiter.succeeded(user.email, meta.ip, user.id);
  const passwordHash = await deps.hasher.hash(input.newPassword);
  const actor = { type: 'user' as const, id: caller.userId };
  const revoked = await deps.db.transaction(async (tx) => {
    const now = new Date();
    await tx
      .update(users)
      .set({ passwordHash, passwordChangedAt: now, updatedAt: now })
      .where(eq(users.id, caller.userId));
    const others = await revokeSessions(tx, {
      userId: caller.userId,
      exceptSessionId: caller.sessionId,
      reason: 'password_changed',
      actor,
      meta,
    });
    await enqueueEvents(tx, [
      buildEvent({
        type: 'user.password.changed',
        userId: caller.userId,
        actor,
        meta,
        data: { revoked_sessions: others.length },
      }),
    ]);
    return others;
  });
  await afterRevoke(deps, revoked, 'password_changed');
}

/** Signs out: revokes the caller's session (the `user.logout` event stands for its revocation). */
export async function logout(deps: AuthDeps, caller: Caller, meta: RequestMeta): Promise<void> {
  const revoked = await deps.db.transaction(async (tx) => {
    const done = await revokeSessions(tx, {
      userId: caller.userId,
      sessionIds: [caller.sessionId],
      reason: 'logout',
      actor: { type: 'user', id: caller.userId },
      meta,
      silent: true,
    });
    if (done.length > 0) {
      await enqueueEvents(tx, [
        buildEvent({
          type: 'user.logout',
          userId: caller.userId,
          actor: { type: 'user', id: caller.userId },
          meta,
          data: { session_id: caller.sessionId },
        }),
      ]);
    }
    return done;
  });
  await afterRevoke(deps, revoked, 'logout');
}
