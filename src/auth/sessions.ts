import { and, desc, eq, gt, inArray, isNull, ne } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import type { Transaction } from '../db/client.js';
import { refreshTokens, sessions, users } from '../db/schema/index.js';
import type { Actor, Envelope, revokeReasons } from '../events/catalog.js';
import { buildEvent, type RequestMeta } from '../events/envelope.js';
import { enqueueEvents } from '../events/outbox.js';
import type { AuthDeps } from './context.js';
import { newRefreshToken } from './tokens.js';

export type RevokeReason = (typeof revokeReasons)[number];

/** Creates a session and its first refresh token inside the caller's transaction. */
export async function createSession(
  deps: AuthDeps,
  tx: Transaction,
  input: { userId: string; meta: RequestMeta },
): Promise<{ sessionId: string; refreshToken: string }> {
  const sessionId = uuidv7();
  const now = new Date();
  await tx.insert(sessions).values({
    id: sessionId,
    userId: input.userId,
    ip: input.meta.ip,
    userAgent: input.meta.userAgent?.slice(0, 512) ?? null,
    createdAt: now,
    lastUsedAt: now,
    expiresAt: new Date(now.getTime() + deps.config.SESSION_TTL_SECONDS * 1_000),
  });
  const refresh = newRefreshToken();
  await tx.insert(refreshTokens).values({ tokenHash: refresh.hash, sessionId });
  return { sessionId, refreshToken: refresh.token };
}

export interface RevokedSession {
  sessionId: string;
  userId: string;
  role: string;
  expiresAt: Date;
}

/**
 * Revokes the given active sessions of one user inside the caller's transaction and writes one
 * `user.session.revoked` event per session (unless `silent`, e.g. logout, which has its own event).
 * Call `afterRevoke` once the transaction has committed.
 */
export async function revokeSessions(
  tx: Transaction,
  input: {
    userId: string;
    /** Sessions to revoke; `undefined` means all active sessions except `exceptSessionId`. */
    sessionIds?: readonly string[];
    exceptSessionId?: string;
    reason: RevokeReason;
    actor: Actor;
    meta: RequestMeta;
    silent?: boolean;
  },
): Promise<RevokedSession[]> {
  const conditions = [
    eq(sessions.userId, input.userId),
    isNull(sessions.revokedAt),
    gt(sessions.expiresAt, new Date()),
  ];
  if (input.sessionIds) conditions.push(inArray(sessions.id, [...input.sessionIds]));
  if (input.exceptSessionId) conditions.push(ne(sessions.id, input.exceptSessionId));
  const revoked = await tx
    .update(sessions)
    .set({ revokedAt: new Date(), revokeReason: input.reason })
    .where(and(...conditions))
    .returning({ sessionId: sessions.id, userId: sessions.userId, expiresAt: sessions.expiresAt });
  if (revoked.length === 0) return [];
  const [user] = await tx.select({ role: users.role }).from(users).where(eq(users.id, input.userId));
  if (!input.silent) {
    const events: Envelope[] = revoked.map((session) =>
      buildEvent({
        type: 'user.session.revoked',
        userId: input.userId,
        actor: input.actor,
        meta: input.meta,
        data: { session_id: session.sessionId, reason: input.reason, revoked_by: input.actor },
      }),
    );
    await enqueueEvents(tx, events);
  }
  return revoked.map((session) => ({ ...session, role: user?.role ?? 'user' }));
}

/** After the revoking transaction committed: refuse the sessions at once, and count them. */
export async function afterRevoke(deps: AuthDeps, revoked: readonly RevokedSession[], reason: RevokeReason) {
  if (revoked.length === 0) return;
  deps.metrics.revocations.inc({ reason }, revoked.length);
  await deps.sessionStates.markRevoked(revoked);
}

/** A user's active sessions, newest first. */
export async function activeSessions(tx: Transaction | AuthDeps['db'], userId: string) {
  return tx
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date())))
    .orderBy(desc(sessions.createdAt), desc(sessions.id));
}
