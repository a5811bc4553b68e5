import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import type { ClickHouseClient } from '../clickhouse/client.js';
import type { Sql } from '../db/client.js';
import { securityAlertKinds } from '../events/catalog.js';
import { buildEvent, systemActor, systemMeta } from '../events/envelope.js';
import { enqueueEvents } from '../events/outbox.js';
import type { Logger } from '../logger.js';
import { zeroed } from '../metrics/labels.js';
import { metricNames } from '../metrics/names.js';
import type { AuditRow } from './rows.js';
import { type Finding, findSuspicious } from './suspicious.js';

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
  /** How far back an IP counts as known for the user (default 90 days). */
  newIpLookbackSeconds?: number;
  clock?: () => Date;
}

/**
 * Looks at each stored batch for suspicious activity, against the audit log in ClickHouse (the rules
 * and their SQL are in ./suspicious.ts):
 * - credential stuffing: at least `stuffingFailures` failed logins on one account from at least
 *   `stuffingIps` IPs within the window;
 * - a login from an IP not seen for the user, after at least `newIpAfterFailures` failures in the
 *   window.
 * It takes the rows as stored, so it compares IPs as stored (truncated or not). Each finding is a
 * `security.alert` event written to the outbox (so it travels the same path as every other event:
 * Kafka, webhooks, audit), at most once per account, kind and window (a Redis key).
 */
export function createDetector(options: DetectorOptions) {
  const alerts = zeroed(
    new Counter({
      name: metricNames.auditSecurityAlerts,
      help: `Security alerts raised by the audit worker, by kind (${securityAlertKinds.join(', ')}).`,
      labelNames: ['kind'] as const,
      registers: [options.registry],
    }),
    'kind',
    securityAlertKinds,
  );
  const table = `${options.database}.audit_events`;
  const rules = {
    stuffingFailures: options.stuffingFailures,
    stuffingIps: options.stuffingIps,
    windowSeconds: options.windowSeconds,
    newIpAfterFailures: options.newIpAfterFailures,
    newIpLookbackSeconds: options.newIpLookbackSeconds ?? 90 * 86_400,
  };
  const clock = options.clock ?? (() => new Date());

  async function raise(finding: Finding) {
    const first = await options.redis.set(
      `hookline:alert:${finding.kind}:${finding.email}`,
      '1',
      'EX',
      options.windowSeconds,
      'NX',
    );
    if (first !== 'OK') return;
    const event = buildEvent({
      type: 'security.alert',
      userId: finding.userId,
      actor: systemActor,
      meta: systemMeta,
      data: {
        kind: finding.kind,
        email: finding.email,
        evidence: { ...finding.evidence, window_seconds: options.windowSeconds },
      },
    });
    await options.sql.begin((tx) => enqueueEvents(tx as unknown as Sql, [event]));
    alerts.inc({ kind: finding.kind });
    options.logger.warn(
      { kind: finding.kind, email: finding.email, evidence: finding.evidence },
      'security alert',
    );
  }

  return async function analyse(rows: readonly AuditRow[]): Promise<void> {
    for (const finding of await findSuspicious(options.clickhouse, table, rows, rules, clock())) {
      await raise(finding);
    }
  };
}
