import { createRoute, z } from '@hono/zod-openapi';
import { dailyStats, failedLoginStats, listAuditEvents } from '../../audit/queries.js';
import type { AuthDeps } from '../../auth/context.js';
import type { ClickHouseClient } from '../../clickhouse/client.js';
import { Timestamp } from '../../db/time.js';
import type { App } from '../app.js';
import { requireAdminOrScope, requireAuth } from '../middleware/auth.js';
import { jsonResponse } from '../openapi.js';
import { problems } from '../problem.js';

const AuditEventSchema = z
  .object({
    id: z.uuid(),
    type: z.string(),
    occurred_at: z.iso.datetime(),
    user_id: z.string().nullable(),
    actor: z.object({ type: z.string(), id: z.string().nullable() }),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    request_id: z.string().nullable(),
    data: z.unknown(),
  })
  .openapi('AuditEvent');
const AuditPage = z
  .object({ items: z.array(AuditEventSchema), next_cursor: z.string().nullable() })
  .openapi('AuditPage');

const Limit = z.coerce.number().int().min(1).max(500).default(50);
const Cursor = z.string().max(200).optional().openapi({ description: '`next_cursor` of the previous page.' });
const Time = Timestamp;
const EventsQuery = z.object({
  limit: Limit,
  cursor: Cursor,
  user_id: z.uuid().optional(),
  type: z
    .string()
    .regex(/^(\*|[a-z]+(\.[a-z_]+)*(\.\*)?)$/, 'must be an event type or a wildcard such as user.*')
    .optional()
    .openapi({
      description:
        'An event type (`user.login`), every type under a dotted prefix (`user.*`, `user.login.*`) or `*` for every type: the filters of webhook subscriptions.',
    }),
  ip: z
    .string()
    .regex(/^[0-9A-Fa-f:.]{2,45}$/, 'must be an IP address')
    .optional(),
  from: Time.optional(),
  to: Time.optional(),
});
const DailyQuery = z
  .object({ from: Time, to: Time })
  .refine((q) => Date.parse(q.to) > Date.parse(q.from), { message: 'must be after from', path: ['to'] })
  .refine((q) => Date.parse(q.to) - Date.parse(q.from) <= 366 * 86_400_000, {
    message: 'at most 366 days after from',
    path: ['to'],
  });
const windowPattern = /^(\d+)(m|h|d)$/;
const toSeconds = (value: string) => {
  const [, amount, unit] = windowPattern.exec(value) ?? [];
  return Number(amount) * ({ m: 60, h: 3_600, d: 86_400 }[unit as 'm' | 'h' | 'd'] ?? 0);
};
const FailedQuery = z.object({
  window: z
    .string()
    .regex(windowPattern, 'must be a duration such as 15m, 1h or 7d')
    .refine((value) => {
      const seconds = toSeconds(value);
      return seconds > 0 && seconds <= 31 * 86_400;
    }, 'must be between 1m and 31d')
    .default('1h'),
  limit: z.coerce.number().int().min(1).max(100).default(10),
});

/** An admin, or an API key with the `audit:read` scope. */
const auditReader = (auth: AuthDeps) => ({
  security: [{ bearer: [] }],
  middleware: [requireAdminOrScope(auth, 'audit:read')],
  tags: ['audit'],
});
type AuditReader = ReturnType<typeof auditReader>;

const eventsRoute = (guarded: AuditReader) =>
  createRoute({
    ...guarded,
    method: 'get',
    path: '/v1/audit/events',
    summary: 'The audit log, newest first: by user, type (exact, `user.*` or `*`), IP and time range.',
    request: { query: EventsQuery },
    responses: { 200: jsonResponse('A page of events.', AuditPage), ...problems(400, 401, 403, 503) },
  });

const myActivityRoute = (auth: AuthDeps) =>
  createRoute({
    method: 'get',
    path: '/v1/me/activity',
    tags: ['me'],
    security: [{ bearer: [] }],
    middleware: [requireAuth(auth)],
    summary: "The caller's own trail: logins, failed logins on the account, changes, sessions revoked.",
    request: { query: EventsQuery.pick({ limit: true, cursor: true, type: true, from: true, to: true }) },
    responses: { 200: jsonResponse('A page of events.', AuditPage), ...problems(400, 401, 503) },
  });

const dailyStatsRoute = (guarded: AuditReader) =>
  createRoute({
    ...guarded,
    method: 'get',
    path: '/v1/audit/stats/daily',
    summary: 'Per UTC day: registrations, successful logins, failed logins, distinct active users.',
    request: { query: DailyQuery },
    responses: {
      200: jsonResponse(
        'Days in [from, to).',
        z.object({
          days: z.array(
            z.object({
              day: z.string(),
              registrations: z.number().int(),
              logins: z.number().int(),
              failed_logins: z.number().int(),
              active_users: z.number().int(),
            }),
          ),
        }),
      ),
      ...problems(400, 401, 403, 503),
    },
  });

const failedLoginsRoute = (guarded: AuditReader) =>
  createRoute({
    ...guarded,
    method: 'get',
    path: '/v1/audit/stats/failed-logins',
    summary: 'Top `limit` IPs and targeted accounts by failed logins over a window (default 1h).',
    request: { query: FailedQuery },
    responses: {
      200: jsonResponse(
        'Top IPs and accounts.',
        z.object({
          window_seconds: z.number().int(),
          top_ips: z.array(z.record(z.string(), z.unknown())),
          top_accounts: z.array(z.record(z.string(), z.unknown())),
        }),
      ),
      ...problems(400, 401, 403, 503),
    },
  });

export function registerAuditRoutes(
  app: App,
  auth: AuthDeps,
  clickhouse: ClickHouseClient,
  database: string,
): void {
  const guarded = auditReader(auth);
  app.openapi(eventsRoute(guarded), async (c) =>
    c.json(await listAuditEvents(clickhouse, database, c.req.valid('query')), 200),
  );
  app.openapi(myActivityRoute(auth), async (c) =>
    c.json(
      await listAuditEvents(clickhouse, database, {
        ...c.req.valid('query'),
        user_id: c.get('caller').userId,
      }),
      200,
    ),
  );
  app.openapi(dailyStatsRoute(guarded), async (c) =>
    c.json(await dailyStats(clickhouse, database, c.req.valid('query')), 200),
  );
  app.openapi(failedLoginsRoute(guarded), async (c) => {
    const query = c.req.valid('query');
    return c.json(await failedLoginStats(clickhouse, database, toSeconds(query.window), query.limit), 200);
  });
}
