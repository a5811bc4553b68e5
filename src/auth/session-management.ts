import { AppError } from '../errors.js';
import type { Actor } from '../events/catalog.js';
import type { RequestMeta } from '../events/envelope.js';
import type { AuthDeps } from './context.js';
import { type PublicSession, publicSession } from './model.js';
import { activeSessions, afterRevoke, type RevokeReason, revokeSessions } from './sessions.js';

export async function listSessions(
  deps: AuthDeps,
  userId: string,
  currentSessionId?: string,
): Promise<PublicSession[]> {
  const rows = await activeSessions(deps.db, userId);
  return rows.map((session) => publicSession(session, currentSessionId));
}

/**
 * Revokes sessions of `userId`: one (`sessionId`), or all but `exceptSessionId`. A session id that is
 * not an active session of that user is 404, never a hint that it exists for someone else.
 */
export async function revokeUserSessions(
  deps: AuthDeps,
  input: {
    userId: string;
    sessionId?: string;
    exceptSessionId?: string;
    reason: RevokeReason;
    actor: Actor;
    meta: RequestMeta;
  },
): Promise<number> {
  const revoked = await deps.db.transaction((tx) =>
    revokeSessions(tx, {
      userId: input.userId,
      ...(input.sessionId ? { sessionIds: [input.sessionId] } : {}),
      ...(input.exceptSessionId ? { exceptSessionId: input.exceptSessionId } : {}),
      reason: input.reason,
      actor: input.actor,
      meta: input.meta,
    }),
  );
  if (input.sessionId && revoked.length === 0) throw new AppError('not_found', 'No such active session.');
  await afterRevoke(deps, revoked, input.reason);
  return revoked.length;
}
