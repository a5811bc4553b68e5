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
  const found = await findUserByEmail(deps, email);
  await checkLimits(deps, email, found?.id ?? null, meta);
  const user = await verifyPassword(deps, { email, user: found, password: input.password }, meta);
  const created = await openSession(deps, { email, user, password: input.password }, meta);
  if (!created) {
    // The password changed while this one was being checked: it is an old password, a failure.
    return failBadCredentials(deps, email, user.id, meta);
  }
  deps.metrics.logins.inc({ result: 'success' });
  await deps.limiter.succeeded(email, meta.ip, user.id);
  return issueTokens(deps, { userId: user.id, ...created });
}

type User = typeof users.$inferSelect;

/** Refuses the attempt when a brute-force limit is reached: 429, recorded as a failed login. */
async function checkLimits(deps: AuthDeps, email: string, userId: string | null, meta: RequestMeta) {
  const decision = await deps.limiter.admit(email, meta.ip, userId);
  if (decision.allowed) return;
  deps.metrics.rateLimited.inc({ limit: decision.limit });
  deps.metrics.logins.inc({ result: 'locked' });
  deps.metrics.failedLogins.inc({ reason: 'locked' });
  await recordFailedLogin(deps, { email, userId, reason: 'locked', limit: decision.limit }, meta);
  throw new AppError('rate_limited', 'Too many login attempts; try again later.', {
    retryAfterSeconds: decision.retryAfterSeconds,
  });
}

/** The user if the password is theirs; an unknown email is checked against a dummy hash, to take as long. */
async function verifyPassword(
  deps: AuthDeps,
  input: { email: string; user: User | undefined; password: string },
  meta: RequestMeta,
): Promise<User> {
  const { email, user, password } = input;
  const valid = user
    ? await deps.hasher.verify(user.passwordHash, password)
    : await deps.hasher.verifyDummy(password);
  if (!user || !valid) return failBadCredentials(deps, email, user?.id ?? null, meta);
  return user;
}

/**
 * The session and its `user.login` event, in one transaction (with the hash upgraded if its parameters
 * are outdated); undefined if the password changed since it was read.
 */
async function openSession(
  deps: AuthDeps,
  input: { email: string; user: User; password: string },
  meta: RequestMeta,
) {
  const { email, user } = input;
  const upgradedHash = deps.hasher.needsRehash(user.passwordHash)
    ? await deps.hasher.hash(input.password)
    : undefined;
  return deps.db.transaction(async (tx) => {
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
}

/** A wrong password (or unknown email): counted, recorded as `user.login.failed`, then 401. */
async function failBadCredentials(
  deps: AuthDeps,
  email: string,
  userId: string | null,
  meta: RequestMeta,
): Promise<never> {
  deps.metrics.logins.inc({ result: 'failure' });
  deps.metrics.failedLogins.inc({ reason: 'bad_credentials' });
  await recordFailedLogin(deps, { email, userId, reason: 'bad_credentials' }, meta);
  throw badCredentials();
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
