/**
 * The Grafana dashboards of hookline, as data: `npm run generate` writes them to
 * grafana/dashboards/*.json (provisioned by grafana/provisioning), and a unit test keeps the JSON
 * current. Queries aggregate the way the metrics are made: counters and histograms are summed over
 * processes; gauges read from a shared store (PostgreSQL, Redis, Kafka) are reported alike by every
 * process of a kind, so they take `max`.
 *
 * `$__rate_interval` is Grafana's window for `rate()` (at least four scrape intervals). Metric names
 * come from src/metrics/names.ts, as the code defining them does, so a rename reaches every panel; a
 * histogram's series add prom-client's `_bucket`, `_sum` or `_count` to its name.
 */

import type { Dashboard, Panel } from '@grafana/schema';
import { metricNames } from '../src/metrics/names.js';

export const DATASOURCE = { type: 'prometheus', uid: 'prometheus' } as const;

interface Target {
  expr: string;
  legend?: string;
  /** Instant query, for tables. */
  instant?: boolean;
}

interface PanelSpec {
  title: string;
  description: string;
  type: 'timeseries' | 'stat' | 'table' | 'bargauge';
  unit: string;
  /** Width out of 24 columns (height is 8, or 4 for stats). */
  width: number;
  targets: Target[];
  /** A time range of its own (Grafana's relative time), e.g. `7d`, instead of the dashboard's. */
  timeFrom?: string;
}

interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  panels: PanelSpec[];
}

const rate = (selector: string) => `rate(${selector}[$__rate_interval])`;
const quantiles = (bucket: string, by = '') =>
  ([0.5, 0.95, 0.99] as const).map((q) => ({
    expr: `histogram_quantile(${q}, sum by (le${by ? `, ${by}` : ''}) (${rate(bucket)}))`,
    legend: `p${q * 100}${by ? ` {{${by}}}` : ''}`,
  }));

/** API routes only (not /metrics, /healthz, /readyz, which every process serves). */
const API_ROUTES = 'route=~"/v1/.*"';

export const auth: DashboardSpec = {
  uid: 'hookline-auth',
  title: 'hookline / Auth',
  description:
    'Sign-ins, failures, sessions, registrations, API latency, brute-force limits and security alerts.',
  tags: ['hookline', 'auth'],
  panels: [
    {
      title: 'Active sessions',
      description: 'Sessions neither revoked nor expired (from PostgreSQL; the same from every API process).',
      type: 'stat',
      unit: 'short',
      width: 6,
      targets: [{ expr: `max(${metricNames.authActiveSessions})`, legend: 'sessions' }],
    },
    {
      title: 'Registrations, last 24 h',
      description: 'Users registered in the last 24 hours.',
      type: 'stat',
      unit: 'short',
      width: 6,
      targets: [{ expr: `sum(increase(${metricNames.authRegistrations}[1d]))`, legend: 'registrations' }],
    },
    {
      title: 'Failed logins, last hour',
      description: 'Failed sign-ins (wrong credentials or refused by a limit) in the last hour.',
      type: 'stat',
      unit: 'short',
      width: 6,
      targets: [{ expr: `sum(increase(${metricNames.authFailedLogins}[1h]))`, legend: 'failed logins' }],
    },
    {
      title: 'Security alerts, last 24 h',
      description: 'security.alert events raised by the audit worker in the last 24 hours.',
      type: 'stat',
      unit: 'short',
      width: 6,
      targets: [{ expr: `sum(increase(${metricNames.auditSecurityAlerts}[1d]))`, legend: 'alerts' }],
    },
    {
      title: 'Logins per minute, by result',
      description:
        'Sign-in attempts per minute: success, failure (wrong credentials), locked (refused by a limit).',
      type: 'timeseries',
      unit: 'short',
      width: 12,
      targets: [{ expr: `sum by (result) (${rate(metricNames.authLogins)}) * 60`, legend: '{{result}}' }],
    },
    {
      title: 'Failed logins per minute, by reason',
      description: `The seed metric FailedLogins: ${metricNames.authFailedLogins}.`,
      type: 'timeseries',
      unit: 'short',
      width: 12,
      targets: [
        { expr: `sum by (reason) (${rate(metricNames.authFailedLogins)}) * 60`, legend: '{{reason}}' },
      ],
    },
    {
      title: 'Login failure ratio',
      description: 'Share of sign-in attempts that failed (wrong credentials or refused by a limit).',
      type: 'timeseries',
      unit: 'percentunit',
      width: 8,
      targets: [
        {
          // No sign-in in the window: no point (not NaN).
          expr: `sum(${rate(`${metricNames.authLogins}{result!="success"}`)}) / (sum(${rate(metricNames.authLogins)}) > 0)`,
          legend: 'failure ratio',
        },
      ],
    },
    {
      title: 'Active sessions',
      description: `The seed metric ActiveSessions: ${metricNames.authActiveSessions}.`,
      type: 'timeseries',
      unit: 'short',
      width: 8,
      targets: [{ expr: `max(${metricNames.authActiveSessions})`, legend: 'active sessions' }],
    },
    {
      title: 'Registrations per day',
      description: `The seed metric UserRegistrations: increase(${metricNames.authRegistrations}[1d]), each point the 24 hours before it, over the last 7 days.`,
      type: 'timeseries',
      unit: 'short',
      width: 8,
      timeFrom: '7d',
      targets: [
        { expr: `sum(increase(${metricNames.authRegistrations}[1d]))`, legend: 'registrations in 24 h' },
      ],
    },
    {
      title: 'API latency p95, by route',
      description: 'Request duration p95 for each route template of the API.',
      type: 'timeseries',
      unit: 's',
      width: 12,
      targets: [
        {
          expr: `histogram_quantile(0.95, sum by (le, route) (${rate(`${metricNames.httpRequestDuration}_bucket{${API_ROUTES}}`)}))`,
          legend: '{{route}}',
        },
      ],
    },
    {
      title: 'API latency percentiles',
      description: 'Request duration p50, p95 and p99 over every API route.',
      type: 'timeseries',
      unit: 's',
      width: 12,
      targets: quantiles(`${metricNames.httpRequestDuration}_bucket{${API_ROUTES}}`),
    },
    {
      title: 'API requests per second, by status class',
      description: 'Requests to the API by status class (2xx, 4xx, 5xx...).',
      type: 'timeseries',
      unit: 'reqps',
      width: 12,
      targets: [
        {
          expr: `sum by (status_class) (${rate(`${metricNames.httpRequests}{${API_ROUTES}}`)})`,
          legend: '{{status_class}}',
        },
      ],
    },
    {
      title: 'Rate-limit refusals per minute, by limit',
      description:
        'Attempts refused by a brute-force limit: sign-ins (ip, account_ip, account), current-password checks (password_*), registrations (register_ip).',
      type: 'timeseries',
      unit: 'short',
      width: 12,
      targets: [{ expr: `sum by (limit) (${rate(metricNames.authRateLimited)}) * 60`, legend: '{{limit}}' }],
    },
    {
      title: 'Token refreshes per minute, by result',
      description:
        'Refresh-token exchanges: success, invalid, reused (within the grace period), reuse_revoked.',
      type: 'timeseries',
      unit: 'short',
      width: 8,
      targets: [
        {
          expr: `sum by (result) (${rate(metricNames.authTokenRefreshes)}) * 60`,
          legend: '{{result}}',
        },
      ],
    },
    {
      title: 'Session revocations per minute, by reason',
      description:
        'Sessions ended: logout, by the user, by an admin, password changed, refresh-token reuse...',
      type: 'timeseries',
      unit: 'short',
      width: 8,
      targets: [
        {
          expr: `sum by (reason) (${rate(metricNames.authSessionRevocations)}) * 60`,
          legend: '{{reason}}',
        },
      ],
    },
    {
      title: 'Security alerts, by kind (last hour)',
      description:
        'security.alert events raised by the audit worker: credential stuffing, new IP after failures.',
      type: 'timeseries',
      unit: 'short',
      width: 8,
      targets: [
        { expr: `sum by (kind) (increase(${metricNames.auditSecurityAlerts}[1h]))`, legend: '{{kind}}' },
      ],
    },
    {
      title: 'Password hashing p95, by operation',
      description: 'argon2id hash and verify time (the CPU cost of sign-ins and registrations).',
      type: 'timeseries',
      unit: 's',
      width: 12,
      targets: [
        {
          expr: `histogram_quantile(0.95, sum by (le, operation) (${rate(`${metricNames.authPasswordHashDuration}_bucket`)}))`,
          legend: '{{operation}}',
        },
      ],
    },
    {
      title: 'Outbox backlog',
      description:
        'Events written with their change but not yet published to Kafka, and the age of the oldest.',
      type: 'timeseries',
      unit: 'short',
      width: 12,
      targets: [
        { expr: `max(${metricNames.outboxPending})`, legend: 'pending rows' },
        { expr: `max(${metricNames.outboxOldestPendingAge})`, legend: 'oldest (seconds)' },
      ],
    },
  ],
};

export const webhooks: DashboardSpec = {
  uid: 'hookline-webhooks',
  title: 'hookline / Webhooks',
  description:
    'Deliveries, latency, queue, dead letters, consumer lag, outbox and the subscriptions that fail.',
  tags: ['hookline', 'webhooks'],
  panels: [
    {
      title: 'Deliveries per second',
      description: 'Successful deliveries per second.',
      type: 'stat',
      unit: 'reqps',
      width: 6,
      targets: [
        {
          expr: `sum(${rate(`${metricNames.webhookDeliveries}{outcome="succeeded"}`)})`,
          legend: 'delivered',
        },
      ],
    },
    {
      title: 'End-to-end p99',
      description: 'From the event occurring to its successful delivery, p99.',
      type: 'stat',
      unit: 's',
      width: 6,
      targets: [
        {
          // No delivery in the window: no value (not NaN).
          expr: `histogram_quantile(0.99, sum by (le) (${rate(`${metricNames.webhookE2eLatency}_bucket`)})) and on () sum(${rate(`${metricNames.webhookE2eLatency}_count`)}) > 0`,
          legend: 'p99',
        },
      ],
    },
    {
      title: 'Dead deliveries',
      description: 'Deliveries that ran out of attempts, waiting to be recovered (or pruned by retention).',
      type: 'stat',
      unit: 'short',
      width: 6,
      targets: [{ expr: `max(${metricNames.webhookFailingDeliveries}{status="dead"})`, legend: 'dead' }],
    },
    {
      title: 'Jobs waiting',
      description: 'Delivery jobs waiting for a worker in the BullMQ queue.',
      type: 'stat',
      unit: 'short',
      width: 6,
      targets: [{ expr: `max(${metricNames.webhookQueueJobs}{state="waiting"})`, legend: 'waiting' }],
    },
    {
      title: 'Deliveries per second, by outcome',
      description:
        'Attempt outcomes: succeeded, retrying (failed, another attempt is scheduled), dead (no attempt left, or subscription disabled).',
      type: 'timeseries',
      unit: 'reqps',
      width: 12,
      targets: [{ expr: `sum by (outcome) (${rate(metricNames.webhookDeliveries)})`, legend: '{{outcome}}' }],
    },
    {
      title: 'Attempts per second, by answer',
      description:
        "Delivery attempts by the receiver's status class, or error (timeout, refused, SSRF guard...).",
      type: 'timeseries',
      unit: 'reqps',
      width: 12,
      targets: [
        {
          expr: `sum by (status_class) (${rate(metricNames.webhookAttempts)})`,
          legend: '{{status_class}}',
        },
      ],
    },
    {
      title: 'End-to-end latency',
      description: 'From the event occurring (in the API) to its successful delivery: p50, p95, p99.',
      type: 'timeseries',
      unit: 's',
      width: 12,
      targets: quantiles(`${metricNames.webhookE2eLatency}_bucket`),
    },
    {
      title: 'Attempt latency',
      description: "One attempt, from sending to the end of reading the receiver's answer: p50, p95, p99.",
      type: 'timeseries',
      unit: 's',
      width: 12,
      targets: quantiles(`${metricNames.webhookAttemptDuration}_bucket`),
    },
    {
      title: 'Queue depth, by state',
      description:
        'Jobs in the BullMQ delivery queue: waiting, active, delayed (retries scheduled), failed, prioritized.',
      type: 'timeseries',
      unit: 'short',
      width: 12,
      targets: [{ expr: `max by (state) (${metricNames.webhookQueueJobs})`, legend: '{{state}}' }],
    },
    {
      title: 'Dead letters',
      description:
        'Deliveries dead now (waiting for recovery), retrying now, and deliveries that went dead in the last hour.',
      type: 'timeseries',
      unit: 'short',
      width: 12,
      targets: [
        { expr: `max by (status) (${metricNames.webhookFailingDeliveries})`, legend: '{{status}} now' },
        {
          expr: `sum(increase(${metricNames.webhookDeliveries}{outcome="dead"}[1h]))`,
          legend: 'went dead, last hour',
        },
      ],
    },
    {
      title: 'Top failing subscriptions',
      description:
        'The subscriptions with the most deliveries retrying or dead now (the 10 with the most are exported; see GET /v1/webhooks/deliveries?subscription_id=...).',
      type: 'bargauge',
      unit: 'short',
      width: 12,
      targets: [
        {
          expr: `topk(10, sum by (subscription_id) (max by (subscription_id, status) (${metricNames.webhookSubscriptionFailingDeliveries})))`,
          legend: '{{subscription_id}}',
          instant: true,
        },
      ],
    },
    {
      title: 'Consumer lag, by group',
      description: 'Events of the Kafka topics not yet committed by the fan-out and audit consumer groups.',
      type: 'timeseries',
      unit: 'short',
      width: 12,
      targets: [
        {
          expr: `sum by (group) (max by (group, topic, partition) (${metricNames.kafkaConsumerLag}))`,
          legend: '{{group}}',
        },
      ],
    },
    {
      title: 'Outbox backlog',
      description: 'Events not yet published to Kafka, and the age of the oldest in seconds.',
      type: 'timeseries',
      unit: 'short',
      width: 8,
      targets: [
        { expr: `max(${metricNames.outboxPending})`, legend: 'pending rows' },
        { expr: `max(${metricNames.outboxOldestPendingAge})`, legend: 'oldest (seconds)' },
      ],
    },
    {
      title: 'Events per second, published and consumed',
      description: 'Events published from the outbox, and events read by the fan-out worker, by topic.',
      type: 'timeseries',
      unit: 'short',
      width: 8,
      targets: [
        {
          expr: `sum by (topic) (${rate(metricNames.eventsPublished)})`,
          legend: 'published {{topic}}',
        },
        {
          expr: `sum by (topic) (${rate(metricNames.webhookEventsConsumed)})`,
          legend: 'consumed {{topic}}',
        },
      ],
    },
    {
      title: 'Flow control: deferrals and open breakers',
      description:
        'Deliveries deferred by their subscription’s flow control (at max_in_flight, over the rate limit, breaker open), per second, and subscriptions whose circuit breaker is open or half-open.',
      type: 'timeseries',
      unit: 'short',
      width: 8,
      targets: [
        {
          expr: `sum by (reason) (rate(${metricNames.webhookDeferred}[5m]))`,
          legend: 'deferred/s: {{reason}}',
        },
        { expr: `max(${metricNames.webhookCircuitsOpen})`, legend: 'breakers open' },
      ],
    },
    {
      title: 'Subscriptions disabled, SSRF refusals, duplicates (last 24 h)',
      description:
        'Subscriptions disabled automatically (gone: 410; failing: failed too long), attempts refused by the SSRF guard, deliveries sent again after an attempt that may have reached the receiver unrecorded, and attempts stored without the receiver’s text.',
      type: 'timeseries',
      unit: 'short',
      width: 8,
      targets: [
        {
          expr: `sum by (reason) (increase(${metricNames.webhookSubscriptionsDisabled}[1d]))`,
          legend: 'disabled: {{reason}}',
        },
        { expr: `sum(increase(${metricNames.webhookSsrfRefusals}[1d]))`, legend: 'SSRF refusals' },
        {
          expr: `sum by (reason) (increase(${metricNames.webhookDuplicateSends}[1d]))`,
          legend: 'duplicate sends: {{reason}}',
        },
        {
          expr: `sum(increase(${metricNames.webhookAttemptsRefused}[1d]))`,
          legend: 'attempts stored without receiver text',
        },
      ],
    },
  ],
};

export const platform: DashboardSpec = {
  uid: 'hookline-platform',
  title: 'hookline / Platform',
  description: 'The processes: up, event-loop lag, memory, CPU, audit ingestion and the cost of /metrics.',
  tags: ['hookline', 'platform'],
  panels: [
    {
      title: 'Processes up',
      description: 'Each scraped hookline process (1 up, 0 down).',
      type: 'timeseries',
      unit: 'short',
      width: 12,
      targets: [{ expr: 'up{job="hookline"}', legend: '{{process}} {{instance}}' }],
    },
    {
      title: 'Event-loop lag p99, by process',
      description:
        "Node's event-loop delay p99 in each process (a busy or blocked process shows here first).",
      type: 'timeseries',
      unit: 's',
      width: 12,
      targets: [{ expr: `max by (process) (${metricNames.eventLoopLagP99})`, legend: '{{process}}' }],
    },
    {
      title: 'CPU, by process',
      description: 'CPU seconds per second used by each process.',
      type: 'timeseries',
      unit: 'percentunit',
      width: 8,
      targets: [{ expr: `sum by (process) (${rate(metricNames.processCpu)})`, legend: '{{process}}' }],
    },
    {
      title: 'Heap used, by process',
      description: 'V8 heap in use.',
      type: 'timeseries',
      unit: 'bytes',
      width: 8,
      targets: [{ expr: `sum by (process) (${metricNames.heapUsed})`, legend: '{{process}}' }],
    },
    {
      title: '/metrics render time',
      description: 'Mean time a process takes to render /metrics (its cost per scrape).',
      type: 'timeseries',
      unit: 's',
      width: 8,
      targets: [
        {
          expr: `sum by (process) (${rate(`${metricNames.scrapeDuration}_sum`)}) / sum by (process) (${rate(`${metricNames.scrapeDuration}_count`)})`,
          legend: '{{process}}',
        },
      ],
    },
    {
      title: 'Audit rows inserted per second',
      description: 'Events stored in ClickHouse by the audit worker.',
      type: 'timeseries',
      unit: 'short',
      width: 8,
      targets: [{ expr: `sum(${rate(metricNames.auditRowsInserted)})`, legend: 'rows' }],
    },
    {
      title: 'Audit insert errors and buffered rows',
      description:
        'Failed ClickHouse inserts in the last hour (retried until they succeed), and rows waiting.',
      type: 'timeseries',
      unit: 'short',
      width: 8,
      targets: [
        { expr: `sum(increase(${metricNames.auditInsertErrors}[1h]))`, legend: 'insert errors, last hour' },
        { expr: `sum(${metricNames.auditBufferedRows})`, legend: 'buffered rows' },
      ],
    },
    {
      title: 'Outbox publish errors and rows set aside (last hour)',
      description: 'Outbox batches that failed to publish (retried), and rows Kafka refused for themselves.',
      type: 'timeseries',
      unit: 'short',
      width: 8,
      targets: [
        { expr: `sum(increase(${metricNames.eventsPublishErrors}[1h]))`, legend: 'publish errors' },
        { expr: `sum(increase(${metricNames.outboxDeadRows}[1h]))`, legend: 'rows set aside' },
      ],
    },
  ],
};

export const dashboardSpecs = { auth, webhooks, platform } as const;

/** Grafana's dashboard JSON (schema 39) for a spec; panels flow left to right in rows of 24 columns. */
export function renderDashboard(spec: DashboardSpec) {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  const panels = spec.panels.map((panel, index) => {
    const h = panel.type === 'stat' ? 4 : 8;
    if (x + panel.width > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const gridPos = { x, y, w: panel.width, h };
    x += panel.width;
    rowHeight = Math.max(rowHeight, h);
    return {
      id: index + 1,
      type: panel.type,
      title: panel.title,
      description: panel.description,
      datasource: DATASOURCE,
      gridPos,
      ...(panel.timeFrom ? { timeFrom: panel.timeFrom } : {}),
      fieldConfig: {
        defaults: {
          unit: panel.unit,
          ...(panel.type === 'timeseries'
            ? { custom: { drawStyle: 'line', fillOpacity: 10, lineWidth: 1, showPoints: 'never' } }
            : {}),
        },
        overrides: [],
      },
      options:
        panel.type === 'timeseries'
          ? {
              legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
              tooltip: { mode: 'multi' },
            }
          : panel.type === 'bargauge'
            ? { orientation: 'horizontal', displayMode: 'basic', reduceOptions: { calcs: ['lastNotNull'] } }
            : { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value' },
      targets: panel.targets.map((target, i) => ({
        refId: String.fromCharCode(65 + i),
        datasource: DATASOURCE,
        expr: target.expr,
        legendFormat: target.legend ?? '',
        range: !target.instant,
        instant: Boolean(target.instant),
      })),
    } satisfies Panel;
  });
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: spec.tags,
    editable: false,
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-1h', to: 'now' },
    refresh: '10s',
    timezone: 'browser',
    graphTooltip: 1,
    annotations: { list: [] },
    templating: { list: [] },
    links: [
      {
        title: 'hookline dashboards',
        type: 'dashboards',
        tags: ['hookline'],
        asDropdown: true,
        icon: 'external link',
        includeVars: false,
        keepTime: true,
        targetBlank: false,
        tooltip: '',
        url: '',
      },
    ],
    panels,
  } satisfies Dashboard;
}

/** File name (in grafana/dashboards) → JSON text, exactly as committed. */
export function renderDashboardFiles(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(dashboardSpecs).map(([name, spec]) => [
      `${name}.json`,
      `${JSON.stringify(renderDashboard(spec), null, 2)}\n`,
    ]),
  );
}
