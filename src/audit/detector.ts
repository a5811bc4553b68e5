import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { chLiteral } from '../clickhouse/sql.js';
import type { Sql } from '../db/client.js';
import type { Envelope } from '../events/catalog.js';
import { securityAlertKinds } from '../events/catalog.js';
import { buildEvent, systemActor, systemMeta } from '../events/envelope.js';
import { enqueueEventsSql } from '../events/outbox.js';
import type { Logger } from '../logger.js';
import { zeroed } from '../metrics/labels.js';

export interface DetectorOptions {
  clickhouse: ClickHouseClient;
  database: string;
  sql: Sql;
  redis: Redis;
  logger: Logger;
  registry: Registry;
  stuffingFailures: number;
  stuffingIps: number;
  windowSeconds: number;
  newIpAfterFailures: number;
}

/**
 * Looks at each stored batch for suspicious activity, against the audit log in ClickHouse:
 * - credential stuffing: at least `stuffingFailures` failed logins on one account from at least
 *   `stuffingIps` IPs within the window;
 * - a login from an IP never seen for the user, after at least `newIpAfterFailures` failures in the
 *   window.
 * Each finding is a `security.alert` event written to the outbox (so it travels the same path as every
 * other event: Kafka, webhooks, audit), at most once per account, kind and window (a Redis key).
 */
export function createDetector(options: DetectorOptions) {
  const alerts = zeroed(
    new Counter({
      name: 'hookline_audit_security_alerts_total',
      help: `Security alerts raised by the audit worker, by kind (${securityAlertKinds.join(', ')}).`,
      labelNames: ['kind'] as const,
      registers: [options.registry],
    }),
    'kind',
    securityAlertKinds,
  );
  const table = `${options.database}.audit_events`;
  const scalar = async (query: string) => {
    const result = await options.clickhouse.query({ query, format: 'JSONEachRow' });
    return (await result.json<Record<string, string | number>>())[0] ?? {};
  };

  async function raise(input: {
    kind: (typeof securityAlertKinds)[number];
    email: string;
    userId: string | null;
    evidence: { failures: number; ips: number; ip?: string };
  }) {
    const first = await options.redis.set(
      `hookline:alert:${input.kind}:${input.email}`,
      '1',
      'EX',
      options.windowSeconds,
      'NX',
    );
    if (first !== 'OK') return;
    const event = buildEvent({
      type: 'security.alert',
      userId: input.userId,
      actor: systemActor,
      meta: systemMeta,
      data: {
        kind: input.kind,
        email: input.email,
        evidence: { ...input.evidence, window_seconds: options.windowSeconds },
      },
    });
    await options.sql.begin((tx) => enqueueEventsSql(tx as unknown as Sql, [event]));
    alerts.inc({ kind: input.kind });
    options.logger.warn({ kind: input.kind, email: input.email, evidence: input.evidence }, 'security alert');
  }

  return async function analyse(events: Envelope[]): Promise<void> {
    const failedEmails = new Map<string, string | null>();
    for (const event of events) {
      if (event.type === 'user.login.failed')
        failedEmails.set((event.data as { email: string }).email, event.user_id);
    }
    for (const [email, userId] of failedEmails) {
      const row = await scalar(
        `SELECT count() AS failures, uniqExact(ip) AS ips FROM ${table} FINAL
         WHERE type = 'user.login.failed' AND email = ${chLiteral(email)} AND occurred_at >= now() - ${options.windowSeconds}`,
      );
      const failures = Number(row.failures ?? 0);
      const ips = Number(row.ips ?? 0);
      if (failures >= options.stuffingFailures && ips >= options.stuffingIps) {
        await raise({ kind: 'credential_stuffing', email, userId, evidence: { failures, ips } });
      }
    }
    for (const event of events) {
      if (event.type !== 'user.login' || !event.user_id || !event.ip) continue;
      const email = (event.data as { email: string }).email;
      // Relative to this login: logins from its IP before it, failures in the window before it.
      const at = Date.parse(event.occurred_at);
      const since = at - options.windowSeconds * 1_000;
      const row = await scalar(
        `SELECT countIf(type = 'user.login' AND ip = ${chLiteral(event.ip)} AND occurred_ms < ${at}) AS seen,
           countIf(type = 'user.login.failed' AND occurred_ms >= ${since} AND occurred_ms < ${at}) AS failures,
           uniqExactIf(ip, type = 'user.login.failed' AND occurred_ms >= ${since} AND occurred_ms < ${at}) AS ips
         FROM ${table} FINAL WHERE user_id = ${chLiteral(event.user_id)}`,
      );
      const failures = Number(row.failures ?? 0);
      if (Number(row.seen ?? 0) === 0 && failures >= options.newIpAfterFailures) {
        await raise({
          kind: 'new_ip_after_failures',
          email,
          userId: event.user_id,
          evidence: { failures, ips: Number(row.ips ?? 0), ip: event.ip },
        });
      }
    }
  };
}
