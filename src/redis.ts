import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection. `purpose` picks the options BullMQ and health checks need:
 * - `queue`: BullMQ workers block and must retry forever (maxRetriesPerRequest: null).
 * - `command`: application commands fail after a few retries instead of waiting forever.
 * - `probe`: readiness checks fail at once when disconnected (no offline queue).
 */
export function createRedis(
  url: string,
  purpose: 'queue' | 'command' | 'probe',
  name: string,
  extra: RedisOptions = {},
): Redis {
  const base: RedisOptions = {
    connectionName: `hookline:${name}`,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  };
  const byPurpose: Record<typeof purpose, RedisOptions> = {
    queue: { maxRetriesPerRequest: null, enableReadyCheck: true },
    command: { maxRetriesPerRequest: 3 },
    probe: { maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 2_000 },
  };
  return new Redis(url, { ...base, ...byPurpose[purpose], ...extra });
}
