import { eq } from 'drizzle-orm';
import { sessions, users } from '../db/schema/index.js';
import { AppError } from '../errors.js';
import { buildEvent, type RequestMeta } from '../events/envelope.js';
import { enqueueEvents } from '../events/outbox.js';
import type { AuthDeps } from './context.js';
import { normaliseEmail } from './model.js';
import { findUserByEmail } from './register.js';
import { createSession } from './sessions.js';

export interface TokenPair {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  session_id: string;
}

export async function issueTokens(
  deps: AuthDeps,
  input: { userId: string; sessionId: string; refreshToken: string },
): Promise<TokenPair> {
  return {
    access_token: await deps.tokens.sign({ userId: input.userId, sessionId: input.sessionId }),
    token_type: 'Bearer',
    expires_in: deps.tokens.ttlSeconds,
    refresh_token: input.refreshToken,
    session_id: input.sessionId,
  };
}

/** The one answer for an unknown email and a wrong password alike. */
const badCredentials = () => new AppError('unauthenticated', 'Invalid email or password.');

/**
 * Signs a user in with email and password. Unknown emails run a dummy verification so that they take
 * as long as a wrong password and get the same answer. Every failure, and every refusal by a
 * brute-force limit, is a `user.login.failed` event committed in its own transaction.
 */
export async function login(
  deps: AuthDeps,
  input: { email: string; password: string },
  meta: RequestMeta,
): Promise<TokenPair> {
  const email = normaliseEmail(input.email);
  const user = await findUserByEmail(deps, email);

  const decision = await deps.limiter.admit(email, meta.ip, user?.id ?? null);
  if (!decision.allowed) {
    deps.metrics.rateLimited.inc({ limit: decision.limit });
    deps.metrics.logins.inc({ result: 'locked' });
    deps.metrics.failedLogins.inc({ reason: 'locked' });
    await recordFailedLogin(
      deps,
      { email, userId: user?.id ?? null, reason: 'locked', limit: decision.limit },
      meta,
    );
    throw new AppError('rate_limited', 'Too many login attempts; try again later.', {
      retryAfterSeconds: decision.retryAfterSeconds,
    });
  }

  const valid = user
    ? await deps.hasher.verify(user.passwordHash, input.password)
    : await deps.hasher.verifyDummy(input.password);
  if (!user || !valid) {
    deps.metrics.logins.inc({ result: 'failure' });
    deps.metrics.failedLogins.inc({ reason: 'bad_credentials' });
    await recordFailedLogin(deps, { email, userId: user?.id ?? null, reason: 'bad_credentials' }, meta);
    throw badCredentials();
  }

  const upgradedHash = deps.hasher.needsRehash(user.passwordHash)
    ? await deps.hasher.hash(input.password)
    : undefined;
  const created = await deps.db.transaction(async (tx) => {
    // The password may have changed while it was being checked: then this login used an old one.
    const [locked] = await tx
      .select({ passwordHash: users.passwordHash })
      .from(users)
      .where(eq(users.id, user.id))
      .for('update');
    if (locked?.passwordHash !== user.passwordHash) return undefined;
    if (upgradedHash) await tx.update(users).set({ passwordHash: upgradedHash }).where(eq(users.id, user.id));
    const created = await createSession(deps, tx, { userId: user.id, meta });
    await enqueueEvents(tx, [
      buildEvent({
        type: 'user.login',
        userId: user.id,
        actor: { type: 'user', id: user.id },
        meta,
        data: { session_id: created.sessionId, email },
      }),
    ]);
    return created;
  });
  if (!created) {
    // The password changed while this one was being checked: it is an old password, a failure.
    deps.metrics.logins.inc({ result: 'failure' });
    deps.metrics.failedLogins.inc({ reason: 'bad_credentials' });
    await recordFailedLogin(deps, { email, userId: user.id, reason: 'bad_credentials' }, meta);
    throw badCredentials();
  }
  deps.metrics.logins.inc({ result: 'success' });
  await deps.limiter.succeeded(email, meta.ip, user.id);
  return issueTokens(deps, { userId: user.id, ...created });
}

async function recordFailedLogin(
  deps: AuthDeps,
  input: {
    email: string;
    userId: string | null;
    reason: 'bad_credentials' | 'locked';
    limit?: 'ip' | 'account_ip' | 'account';
  },
  meta: RequestMeta,
): Promise<void> {
  await deps.db.transaction(async (tx) => {
    await enqueueEvents(tx, [
      buildEvent({
        type: 'user.login.failed',
        userId: input.userId,
        // The one who tried: the account's user if it exists, an anonymous client otherwise.
        actor: { type: 'user', id: input.userId },
        meta,
        data: { email: input.email, reason: input.reason, ...(input.limit ? { limit: input.limit } : {}) },
      }),
    ]);
  });
}

/** Touches a session's last use (at most once a minute per session, to spare writes). */
export async function touchSession(deps: AuthDeps, sessionId: string): Promise<void> {
  const first = await deps.redis
    .set(`hookline:session-touch:${sessionId}`, '1', 'EX', 60, 'NX')
    .catch(() => 'OK');
  if (first !== 'OK') return;
  await deps.db.update(sessions).set({ lastUsedAt: new Date() }).where(eq(sessions.id, sessionId));
}
