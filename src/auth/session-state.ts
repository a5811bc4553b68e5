import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import type { Database } from '../db/client.js';
import { sessions, users } from '../db/schema/index.js';
import type { Logger } from '../logger.js';

/** What every authenticated request needs to know about its session, cached in Redis. */
export interface SessionState {
  userId: string;
  role: string;
  revoked: boolean;
  expiresAt: number;
}

const keyOf = (sessionId: string) => `hookline:session:${sessionId}`;

/**
 * Session state behind a Redis cache. Readers fill the cache only if the key is absent (SET NX);
 * writers (revocation, role change) overwrite it after their transaction commits. So a reader that
 * loaded the state just before a revocation cannot put the stale state back, and a revoked session
 * is refused on the very next request. If Redis is unavailable, PostgreSQL answers directly.
 */
export class SessionStates {
  constructor(
    private readonly db: Database,
    private readonly redis: Redis,
    private readonly options: { ttlSeconds: number; tombstoneTtlSeconds: number; logger: Logger },
  ) {}

  async get(sessionId: string): Promise<SessionState | null> {
    try {
      const cached = await this.redis.get(keyOf(sessionId));
      if (cached) return JSON.parse(cached) as SessionState;
    } catch (error) {
      this.options.logger.warn({ err: error }, 'session cache unavailable; reading PostgreSQL');
    }
    const [row] = await this.db
      .select({
        userId: sessions.userId,
        role: users.role,
        revokedAt: sessions.revokedAt,
        expiresAt: sessions.expiresAt,
      })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(sessions.id, sessionId));
    if (!row) return null;
    const state: SessionState = {
      userId: row.userId,
      role: row.role,
      revoked: row.revokedAt !== null,
      expiresAt: row.expiresAt.getTime(),
    };
    await this.redis
      .set(keyOf(sessionId), JSON.stringify(state), 'EX', this.options.ttlSeconds, 'NX')
      .catch(() => {});
    return state;
  }

  /** After a commit that revoked sessions: each is refused from the next request on. */
  async markRevoked(
    entries: readonly { sessionId: string; userId: string; role: string; expiresAt: Date }[],
  ) {
    if (entries.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const entry of entries) {
      const state: SessionState = {
        userId: entry.userId,
        role: entry.role,
        revoked: true,
        expiresAt: entry.expiresAt.getTime(),
      };
      pipeline.set(keyOf(entry.sessionId), JSON.stringify(state), 'EX', this.options.tombstoneTtlSeconds);
    }
    await this.write(pipeline);
  }

  /** After a commit that changed a user (their role): rewrite the state of each active session. */
  async refreshUser(userId: string): Promise<void> {
    const rows = await this.db
      .select({ id: sessions.id, role: users.role, expiresAt: sessions.expiresAt })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(
        and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date())),
      );
    if (rows.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const row of rows) {
      const state: SessionState = {
        userId,
        role: row.role,
        revoked: false,
        expiresAt: row.expiresAt.getTime(),
      };
      pipeline.set(keyOf(row.id), JSON.stringify(state), 'EX', this.options.ttlSeconds);
    }
    await this.write(pipeline);
  }

  private async write(pipeline: ReturnType<Redis['pipeline']>): Promise<void> {
    try {
      const results = await pipeline.exec();
      const failed = results?.find(([error]) => error);
      if (failed) throw failed[0];
    } catch (error) {
      // PostgreSQL already holds the truth; a stale cache entry would outlive it by at most its TTL.
      this.options.logger.error({ err: error }, 'could not update the session cache');
    }
  }
}
