import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Sql } from '../db/client.js';

/**
 * Auth metrics. `hookline_auth_active_sessions` is read from PostgreSQL at scrape time (an indexed
 * count, cached for 5 s), so every API process reports the same, correct total: aggregate it with
 * `max`, not `sum`.
 */
export function createAuthMetrics(registry: Registry, sql: Sql) {
  let cached: { at: number; value: Promise<number> } | undefined;
  const activeSessions = () => {
    if (!cached || Date.now() - cached.at > 5_000) {
      const value = sql<{ n: string }[]>`
        SELECT count(*) AS n FROM sessions WHERE revoked_at IS NULL AND expires_at > now()`.then(([row]) =>
        Number(row?.n ?? 0),
      );
      cached = { at: Date.now(), value };
      value.catch(() => {
        cached = undefined;
      });
    }
    return cached.value;
  };
  return {
    failedLogins: new Counter({
      name: 'hookline_auth_failed_logins_total',
      help: 'Failed sign-ins, by reason (bad_credentials, locked).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    logins: new Counter({
      name: 'hookline_auth_logins_total',
      help: 'Sign-in attempts by result (success, failure, locked).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    registrations: new Counter({
      name: 'hookline_auth_registrations_total',
      help: 'Users registered. Per day: increase(hookline_auth_registrations_total[1d]).',
      registers: [registry],
    }),
    refreshes: new Counter({
      name: 'hookline_auth_token_refreshes_total',
      help: 'Refresh-token exchanges by result (success, invalid, reused, reuse_revoked).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    revocations: new Counter({
      name: 'hookline_auth_session_revocations_total',
      help: 'Sessions revoked, by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'hookline_auth_rate_limited_total',
      help: 'Login attempts refused by a brute-force limit, by limit (ip, account_ip, account).',
      labelNames: ['limit'] as const,
      registers: [registry],
    }),
    passwordHashDuration: new Histogram({
      name: 'hookline_auth_password_hash_duration_seconds',
      help: 'argon2id hashing and verification time.',
      labelNames: ['operation'] as const,
      buckets: [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28],
      registers: [registry],
    }),
    activeSessions: new Gauge({
      name: 'hookline_auth_active_sessions',
      help: 'Sessions neither revoked nor expired (the same total from every API process: use max).',
      registers: [registry],
      async collect() {
        this.set(await activeSessions());
      },
    }),
  };
}

export type AuthMetrics = ReturnType<typeof createAuthMetrics>;
