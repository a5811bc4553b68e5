import { and, eq, gt, isNull } from 'drizzle-orm';
import { refreshTokens, sessions } from '../db/schema/index.js';
import { AppError } from '../errors.js';
import { buildEvent, type RequestMeta, systemActor } from '../events/envelope.js';
import { enqueueEvents } from '../events/outbox.js';
import type { AuthDeps } from './context.js';
import { issueTokens, type TokenPair } from './login.js';
import { afterRevoke, type RevokedSession, revokeSessions } from './sessions.js';
import { hashToken, newRefreshToken } from './tokens.js';

type Outcome =
  | { kind: 'rotated'; userId: string; sessionId: string; refreshToken: string }
  | { kind: 'invalid' }
  | { kind: 'reused_in_grace' }
  | { kind: 'reuse_revoked'; revoked: RevokedSession[] };

/**
 * Exchanges a refresh token for new tokens; the refresh token rotates on every use. Marking the token
 * used is one conditional UPDATE, so of two concurrent refreshes with one token exactly one wins.
 * Presenting an already-used token is reuse: the session is revoked (a token was stolen), unless it
 * comes within REFRESH_REUSE_GRACE_SECONDS of the use, which is the loser of such a race.
 */
export async function refresh(
  deps: AuthDeps,
  input: { refreshToken: string },
  meta: RequestMeta,
): Promise<TokenPair> {
  const tokenHash = hashToken(input.refreshToken);
  const outcome = await deps.db.transaction(async (tx): Promise<Outcome> => {
    const [claimed] = await tx
      .update(refreshTokens)
      .set({ usedAt: new Date() })
      .where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.usedAt)))
      .returning({ sessionId: refreshTokens.sessionId });

    if (claimed) {
      const [session] = await tx
        .update(sessions)
        .set({ lastUsedAt: new Date() })
        .where(
          and(
            eq(sessions.id, claimed.sessionId),
            isNull(sessions.revokedAt),
            gt(sessions.expiresAt, new Date()),
          ),
        )
        .returning({ userId: sessions.userId });
      if (!session) return { kind: 'invalid' };
      const next = newRefreshToken();
      await tx.insert(refreshTokens).values({ tokenHash: next.hash, sessionId: claimed.sessionId });
      await enqueueEvents(tx, [
        buildEvent({
          type: 'user.token.refreshed',
          userId: session.userId,
          actor: { type: 'user', id: session.userId },
          meta,
          data: { session_id: claimed.sessionId },
        }),
      ]);
      return {
        kind: 'rotated',
        userId: session.userId,
        sessionId: claimed.sessionId,
        refreshToken: next.token,
      };
    }

    const [known] = await tx
      .select({ sessionId: refreshTokens.sessionId, usedAt: refreshTokens.usedAt, userId: sessions.userId })
      .from(refreshTokens)
      .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
      .where(eq(refreshTokens.tokenHash, tokenHash));
    if (!known?.usedAt) return { kind: 'invalid' };
    if (Date.now() - known.usedAt.getTime() <= deps.config.REFRESH_REUSE_GRACE_SECONDS * 1_000) {
      return { kind: 'reused_in_grace' };
    }
    const revoked = await revokeSessions(tx, {
      userId: known.userId,
      sessionIds: [known.sessionId],
      reason: 'refresh_token_reuse',
      actor: systemActor,
      meta,
    });
    return { kind: 'reuse_revoked', revoked };
  });

  switch (outcome.kind) {
    case 'rotated':
      deps.metrics.refreshes.inc({ result: 'success' });
      return issueTokens(deps, outcome);
    case 'invalid':
      deps.metrics.refreshes.inc({ result: 'invalid' });
      throw new AppError('unauthenticated', 'The refresh token is invalid, expired or revoked.');
    case 'reused_in_grace':
      deps.metrics.refreshes.inc({ result: 'reused' });
      throw new AppError('unauthenticated', 'The refresh token was already used.');
    case 'reuse_revoked':
      deps.metrics.refreshes.inc({ result: 'reuse_revoked' });
      await afterRevoke(deps, outcome.revoked, 'refresh_token_reuse');
      throw new AppError(
        'unauthenticated',
        'The refresh token was already used; the session has been revoked.',
      );
  }
}
