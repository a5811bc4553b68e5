import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { validate as isUuid } from 'uuid';
import type { Database } from '../db/client.js';
import { sessions, users } from '../db/schema/index.js';
import type { Logger } from '../logger.js';

/** What every authenticated request needs to know about its session, cached in Redis. */
export interface SessionState {
  userId: string;
  role: string;
  revoked: boolean;
  expiresAt: number;
  /** The user row's `updated_at` (ms) when the state was read: a newer state wins. */
  version: number;
}

const keyOf = (sessionId: string) => `hookline:session:${sessionId}`;

/**
 * Writes a refreshed state unless the cached one is a revocation (revocations are final) or newer.
 * KEYS[1]: the session key; ARGV: the state as JSON, TTL in seconds, version.
 */
const WRITE_IF_NEWER = `
local current = redis.call('GET', KEYS[1])
if current then
  local state = cjson.decode(current)
  if state.revoked then return 0 end
  if state.version and tonumber(state.version) > tonumber(ARGV[3]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1`;

/**
 * Session state behind a Redis cache. Readers fill the cache only if the key is absent (SET NX);
 * revocations overwrite it after their transaction commits; role changes rewrite it unless it holds
 * a revocation or a newer state. So a reader that loaded the state just before a revocation cannot
 * put the stale state back, and a revoked session is refused on the very next request. If Redis is
 * unavailable, PostgreSQL answers directly.
 */
export class SessionStates {
  constructor(
    private readonly db: Database,
    private readonly redis: Redis,
    private readonly options: { ttlSeconds: number; tombstoneTtlSeconds: number; logger: Logger },
  ) {}

  private query(where: ReturnType<typeof and>) {
    return this.db
      .select({
        sessionId: sessions.id,
        userId: sessions.userId,
        role: users.role,
        revokedAt: sessions.revokedAt,
        expiresAt: sessions.expiresAt,
        version: users.updatedAt,
      })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(where);
  }

  /** The state of a session, or null if there is no such session (an id that is not a UUID included). */
  async get(sessionId: string): Promise<SessionState | null> {
    if (!isUuid(sessionId)) return null;
    let cacheUp = true;
    try {
      const cached = await this.redis.get(keyOf(sessionId));
      if (cached) return JSON.parse(cached) as SessionState;
    } catch (error) {
      cacheUp = false;
      this.options.logger.warn({ err: error }, 'session cache unavailable; reading PostgreSQL');
    }
    const [row] = await this.query(eq(sessions.id, sessionId));
    if (!row) return null;
    const state: SessionState = {
      userId: row.userId,
      role: row.role,
      revoked: row.revokedAt !== null,
      expiresAt: row.expiresAt.getTime(),
      version: row.version.getTime(),
    };
    // Filling the cache is skipped while Redis is failing: the request must not wait for it twice.
    if (cacheUp) {
      await this.redis
        .set(keyOf(sessionId), JSON.stringify(state), 'EX', this.options.ttlSeconds, 'NX')
        .catch(() => {});
    }
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
        version: Number.MAX_SAFE_INTEGER,
      };
      pipeline.set(keyOf(entry.sessionId), JSON.stringify(state), 'EX', this.options.tombstoneTtlSeconds);
    }
    await this.write(pipeline);
  }

  /** After a commit that changed a user (their role): rewrite the state of each active session. */
  async refreshUser(userId: string): Promise<void> {
    const rows = await this.query(
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
        version: row.version.getTime(),
      };
      pipeline.eval(
        WRITE_IF_NEWER,
        1,
        keyOf(row.sessionId),
        JSON.stringify(state),
        this.options.ttlSeconds,
        state.version,
      );
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
