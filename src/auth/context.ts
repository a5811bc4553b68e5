import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../config/load.js';
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { Dependencies } from '../platform/dependencies.js';
import { LoginLimiter } from './login-limiter.js';
import { type AuthMetrics, createAuthMetrics } from './metrics.js';
import { PasswordHasher } from './passwords.js';
import { SessionStates } from './session-state.js';
import { AccessTokens } from './tokens.js';

/** Everything the auth service verbs use, built once per process. */
export interface AuthDeps {
  db: Database;
  redis: Redis;
  logger: Logger;
  config: Config;
  metrics: AuthMetrics;
  hasher: PasswordHasher;
  tokens: AccessTokens;
  sessionStates: SessionStates;
  limiter: LoginLimiter;
  /** The same limits on `current_password` checks, so a stolen access token cannot guess it freely. */
  passwordLimiter: LoginLimiter;
}

export function createAuthDeps(deps: Dependencies): AuthDeps {
  const { config, logger } = deps;
  const metrics = createAuthMetrics(deps.metrics.registry, deps.sql);
  const limits = {
    windowSeconds: config.LOGIN_WINDOW_SECONDS,
    maxPerIp: config.LOGIN_MAX_PER_IP,
    maxFailuresPerAccountIp: config.LOGIN_MAX_FAILURES_PER_ACCOUNT_IP,
    maxFailuresPerAccount: config.LOGIN_MAX_FAILURES_PER_ACCOUNT,
  };
  let secret = config.JWT_SECRET;
  if (!secret) {
    secret = randomBytes(48).toString('base64url');
    logger.warn('JWT_SECRET is not set: using a random key; access tokens will not survive a restart');
  }
  return {
    db: deps.db,
    redis: deps.redis,
    logger,
    config,
    metrics,
    hasher: new PasswordHasher(
      { memoryKiB: config.PASSWORD_HASH_MEMORY_KIB, iterations: config.PASSWORD_HASH_ITERATIONS },
      (seconds, operation) => metrics.passwordHashDuration.observe({ operation }, seconds),
    ),
    tokens: new AccessTokens(secret, {
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    }),
    sessionStates: new SessionStates(deps.db, deps.redis, {
      ttlSeconds: config.SESSION_CACHE_TTL_SECONDS,
      tombstoneTtlSeconds: Math.max(config.ACCESS_TOKEN_TTL_SECONDS, config.SESSION_CACHE_TTL_SECONDS) + 60,
      logger,
    }),
    limiter: new LoginLimiter(deps.redis, limits, logger, 'login'),
    passwordLimiter: new LoginLimiter(deps.redis, limits, logger, 'password'),
  };
}
