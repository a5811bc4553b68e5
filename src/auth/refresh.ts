import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Transaction } from '../db/client.js';
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
    const claimed = await claimToken(tx, tokenHash);
    if (claimed) return rotate(tx, claimed.sessionId, meta);
    return detectReuse(deps, tx, tokenHash, meta);
  });
  return answer(deps, outcome);
}

/** Marks the token used if it is not yet: the one conditional UPDATE that decides a race. */
async function claimToken(tx: Transaction, tokenHash: string) {
  const [claimed] = await tx
    .update(refreshTokens)
    .set({ usedAt: new Date() })
    .where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.usedAt)))
    .returning({ sessionId: refreshTokens.sessionId });
  return claimed;
}

/** A claimed token: a new refresh token for its session, if the session is still live. */
async function rotate(tx: Transaction, sessionId: string, meta: RequestMeta): Promise<Outcome> {
  const [session] = await tx
    .update(sessions)
    .set({ lastUsedAt: new Date() })
    .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date())))
    .returning({ userId: sessions.userId });
  if (!session) return { kind: 'invalid' };
  const next = newRefreshToken();
  await tx.insert(refreshTokens).values({ tokenHash: next.hash, sessionId });
  await enqueueEvents(tx, [
    buildEvent({
      type: 'user.token.refreshed',
      userId: session.userId,
      actor: { type: 'user', id: session.userId },
      meta,
      data: { session_id: sessionId },
    }),
  ]);
  return { kind: 'rotated', userId: session.userId, sessionId, refreshToken: next.token };
}

/** A token not claimed: unknown, the loser of a race (within the grace), or reuse, which revokes. */
async function detectReuse(
  deps: AuthDeps,
  tx: Transaction,
  tokenHash: string,
  meta: RequestMeta,
): Promise<Outcome> {
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
}

/** After the commit: the metric, then the tokens or the error (reuse after the revocation's follow-up). */
async function answer(deps: AuthDeps, outcome: Outcome): Promise<TokenPair> {
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
