import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

export interface LoginLimits {
  windowSeconds: number;
  maxPerIp: number;
  maxFailuresPerAccountIp: number;
  maxFailuresPerAccount: number;
}

export type LimitDecision =
  | { allowed: true }
  | { allowed: false; limit: 'ip' | 'account_ip' | 'account'; retryAfterSeconds: number };

const KNOWN_IP_DAYS = 30;

/**
 * Brute-force limits on login, in Redis, over fixed windows (so every refusal ends):
 * - every attempt from one IP counts against `maxPerIp` (password spraying across accounts);
 * - failures for one account from one IP count against `maxFailuresPerAccountIp`;
 * - failures for one account from all IPs count against `maxFailuresPerAccount`, but past it only IPs
 *   the user never signed in from are refused: an attacker elsewhere cannot lock the real user out.
 * If Redis is unavailable the limiter lets attempts through (logged), so logins keep working.
 */
export class LoginLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly limits: LoginLimits,
    private readonly logger: Logger,
  ) {}

  private keys(email: string, ip: string, userId: string | null) {
    return {
      ip: `hookline:rl:login:ip:${ip}`,
      accountIp: `hookline:rl:login:fail:${email}:${ip}`,
      account: `hookline:rl:login:fail:${email}`,
      knownIps: userId ? `hookline:known-ips:${userId}` : undefined,
    };
  }

  /** Counts this attempt against the IP limit and decides whether it may proceed. */
  async check(email: string, ip: string | null, userId: string | null): Promise<LimitDecision> {
    const keys = this.keys(email, ip ?? 'unknown', userId);
    const window = this.limits.windowSeconds;
    try {
      const pipeline = this.redis
        .multi()
        .incr(keys.ip)
        .expire(keys.ip, window, 'NX')
        .ttl(keys.ip)
        .get(keys.accountIp)
        .ttl(keys.accountIp)
        .get(keys.account)
        .ttl(keys.account);
      if (keys.knownIps) pipeline.sismember(keys.knownIps, ip ?? 'unknown');
      const results = (await pipeline.exec()) ?? [];
      const value = (index: number) => results[index]?.[1];
      const retryAfter = (index: number) => Math.max(1, Number(value(index)) || window);
      if (Number(value(0)) > this.limits.maxPerIp)
        return { allowed: false, limit: 'ip', retryAfterSeconds: retryAfter(2) };
      if (Number(value(3) ?? 0) >= this.limits.maxFailuresPerAccountIp) {
        return { allowed: false, limit: 'account_ip', retryAfterSeconds: retryAfter(4) };
      }
      const knownIp = keys.knownIps ? Number(value(7)) === 1 : false;
      if (Number(value(5) ?? 0) >= this.limits.maxFailuresPerAccount && !knownIp) {
        return { allowed: false, limit: 'account', retryAfterSeconds: retryAfter(6) };
      }
      return { allowed: true };
    } catch (error) {
      this.logger.error({ err: error }, 'login limiter unavailable; letting the attempt through');
      return { allowed: true };
    }
  }

  async recordFailure(email: string, ip: string | null): Promise<void> {
    const keys = this.keys(email, ip ?? 'unknown', null);
    const window = this.limits.windowSeconds;
    await this.redis
      .multi()
      .incr(keys.accountIp)
      .expire(keys.accountIp, window, 'NX')
      .incr(keys.account)
      .expire(keys.account, window, 'NX')
      .exec()
      .catch((error: unknown) => this.logger.error({ err: error }, 'could not record a failed login'));
  }

  /** A success clears the failures from that IP and remembers the IP as the user's. */
  async recordSuccess(email: string, ip: string | null, userId: string): Promise<void> {
    const keys = this.keys(email, ip ?? 'unknown', userId);
    await this.redis
      .multi()
      .del(keys.accountIp)
      .sadd(keys.knownIps as string, ip ?? 'unknown')
      .expire(keys.knownIps as string, KNOWN_IP_DAYS * 86_400)
      .exec()
      .catch((error: unknown) => this.logger.error({ err: error }, 'could not record a successful login'));
  }
}
