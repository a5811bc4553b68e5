import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

export interface LoginLimits {
  windowSeconds: number;
  maxPerIp: number;
  maxFailuresPerAccountIp: number;
  maxFailuresPerAccount: number;
}

export const limitNames = ['ip', 'account_ip', 'account'] as const;
export type LimitName = (typeof limitNames)[number];
export type LimitDecision =
  | { allowed: true }
  | { allowed: false; limit: LimitName; retryAfterSeconds: number };

const KNOWN_IP_DAYS = 30;

/**
 * Brute-force limits on password checks, in Redis, over fixed windows (so every refusal ends):
 * - every attempt from one IP counts against `maxPerIp` (password spraying across accounts);
 * - failures for one account from one IP count against `maxFailuresPerAccountIp`;
 * - failures for one account from all IPs count against `maxFailuresPerAccount`, but past it only IPs
 *   the user signed in from before are let through: an attacker elsewhere cannot lock the user out.
 * An attempt is counted as a failure when it is admitted, in the same atomic MULTI as the check, and
 * taken back if it succeeds; so parallel guesses cannot all slip under the limit while the password
 * hashes are being checked. If Redis is unavailable attempts are let through (logged).
 */
export class LoginLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly limits: LoginLimits,
    private readonly logger: Logger,
    private readonly scope = 'login',
  ) {}

  private keys(email: string, ip: string | null, userId: string | null) {
    const client = ip ?? 'unknown';
    return {
      ip: `hookline:rl:${this.scope}:ip:${client}`,
      accountIp: `hookline:rl:${this.scope}:fail:${email}:${client}`,
      account: `hookline:rl:${this.scope}:fail:${email}`,
      knownIps: userId ? `hookline:known-ips:${userId}` : undefined,
      client,
    };
  }

  /** Counts the attempt (as a failure until `succeeded`) and decides whether it may proceed. */
  async admit(email: string, ip: string | null, userId: string | null): Promise<LimitDecision> {
    const keys = this.keys(email, ip, userId);
    const window = this.limits.windowSeconds;
    try {
      const multi = this.redis.multi();
      for (const key of [keys.ip, keys.accountIp, keys.account]) multi.incr(key).expire(key, window, 'NX');
      multi.ttl(keys.ip).ttl(keys.accountIp).ttl(keys.account);
      if (keys.knownIps) multi.sismember(keys.knownIps, keys.client);
      const results = (await multi.exec()) ?? [];
      const value = (index: number) => Number(results[index]?.[1] ?? 0);
      const retryAfter = (index: number) => Math.max(1, value(index) > 0 ? value(index) : window);
      const [perIp, perAccountIp, perAccount] = [value(0), value(2), value(4)];
      if (perIp > this.limits.maxPerIp)
        return { allowed: false, limit: 'ip', retryAfterSeconds: retryAfter(6) };
      if (perAccountIp > this.limits.maxFailuresPerAccountIp) {
        return { allowed: false, limit: 'account_ip', retryAfterSeconds: retryAfter(7) };
      }
      const knownIp = keys.knownIps ? value(9) === 1 : false;
      if (perAccount > this.limits.maxFailuresPerAccount && !knownIp) {
        return { allowed: false, limit: 'account', retryAfterSeconds: retryAfter(8) };
      }
      return { allowed: true };
    } catch (error) {
      this.logger.error({ err: error }, 'login limiter unavailable; letting the attempt through');
      return { allowed: true };
    }
  }

  /** The admitted attempt succeeded: it was no failure, and the IP becomes one the user is known at. */
  async succeeded(email: string, ip: string | null, userId: string): Promise<void> {
    const keys = this.keys(email, ip, userId);
    await this.redis
      .multi()
      .del(keys.accountIp)
      .decr(keys.account)
      .sadd(keys.knownIps as string, keys.client)
      .expire(keys.knownIps as string, KNOWN_IP_DAYS * 86_400)
      .exec()
      .catch((error: unknown) => this.logger.error({ err: error }, 'could not record a successful login'));
  }
}

/** A plain per-IP counter over a fixed window (e.g. registrations). */
export async function countPerIp(
  redis: Redis,
  input: { scope: string; ip: string | null; max: number; windowSeconds: number },
): Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }> {
  const key = `hookline:rl:${input.scope}:ip:${input.ip ?? 'unknown'}`;
  try {
    const results =
      (await redis.multi().incr(key).expire(key, input.windowSeconds, 'NX').ttl(key).exec()) ?? [];
    const count = Number(results[0]?.[1] ?? 0);
    if (count <= input.max) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.max(1, Number(results[2]?.[1] ?? input.windowSeconds)) };
  } catch {
    return { allowed: true };
  }
}
