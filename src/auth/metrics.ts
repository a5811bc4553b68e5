import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Sql } from '../db/client.js';
import { revokeReasons } from '../events/catalog.js';
import { zeroed } from '../metrics/labels.js';
import { metricNames } from '../metrics/names.js';
import { sampled } from '../metrics/sampled.js';
import { limitNames } from './login-limiter.js';

/**
 * Auth metrics. `hookline_auth_active_sessions` is read from PostgreSQL (an indexed count, refreshed
 * in the background at most every 5 s, never on the scrape's path), so every API process reports the
 * same, correct total: aggregate it with `max`, not `sum`.
 */
export function createAuthMetrics(registry: Registry, sql: Sql) {
  return { ...signInMetrics(registry), ...sessionMetrics(registry, sql) };
}

/** Sign-ins, registrations, refreshes, the brute-force limits' refusals, hashing time. */
function signInMetrics(registry: Registry) {
  return {
    failedLogins: zeroed(
      new Counter({
        name: metricNames.authFailedLogins,
        help: 'Failed sign-ins, by reason (bad_credentials, locked).',
        labelNames: ['reason'] as const,
        registers: [registry],
      }),
      'reason',
      ['bad_credentials', 'locked'],
    ),
    logins: zeroed(
      new Counter({
        name: metricNames.authLogins,
        help: 'Sign-in attempts by result (success, failure, locked).',
        labelNames: ['result'] as const,
        registers: [registry],
      }),
      'result',
      ['success', 'failure', 'locked'],
    ),
    registrations: new Counter({
      name: metricNames.authRegistrations,
      help: 'Users registered. Per day: increase(hookline_auth_registrations_total[1d]).',
      registers: [registry],
    }),
    refreshes: zeroed(
      new Counter({
        name: metricNames.authTokenRefreshes,
        help: 'Refresh-token exchanges by result (success, invalid, reused, reuse_revoked).',
        labelNames: ['result'] as const,
        registers: [registry],
      }),
      'result',
      ['success', 'invalid', 'reused', 'reuse_revoked'],
    ),
    rateLimited: zeroed(
      new Counter({
        name: metricNames.authRateLimited,
        help: 'Attempts refused by a brute-force limit, by limit: sign-ins (ip, account_ip, account), current-password checks (password_ip, password_account_ip, password_account), registrations (register_ip).',
        labelNames: ['limit'] as const,
        registers: [registry],
      }),
      'limit',
      [...limitNames, ...limitNames.map((limit) => `password_${limit}`), 'register_ip'],
    ),
    passwordHashDuration: new Histogram({
      name: metricNames.authPasswordHashDuration,
      help: 'argon2id hashing and verification time.',
      labelNames: ['operation'] as const,
      buckets: [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28],
      registers: [registry],
    }),
  };
}

/** Sessions: revoked by reason, and active now (read from PostgreSQL in the background). */
function sessionMetrics(registry: Registry, sql: Sql) {
  const activeSessions = sampled(
    async () => {
      const [row] = await sql<{ n: string }[]>`
        SELECT count(*) AS n FROM sessions WHERE revoked_at IS NULL AND expires_at > now()`;
      return Number(row?.n ?? 0);
    },
    { maxAgeMs: 5_000 },
  );
  return {
    revocations: zeroed(
      new Counter({
        name: metricNames.authSessionRevocations,
        help: `Sessions revoked, by reason (${revokeReasons.join(', ')}).`,
        labelNames: ['reason'] as const,
        registers: [registry],
      }),
      'reason',
      revokeReasons,
    ),
    activeSessions: new Gauge({
      name: metricNames.authActiveSessions,
      help: 'Sessions neither revoked nor expired (the same total from every API process: use max).',
      registers: [registry],
      async collect() {
        const value = await activeSessions();
        if (value !== undefined) this.set(value);
      },
    }),
  };
}

export type AuthMetrics = ReturnType<typeof createAuthMetrics>;
