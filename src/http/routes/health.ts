import { createRoute, z } from '@hono/zod-openapi';
import type { Readiness } from '../../health/readiness.js';
import type { Metrics } from '../../metrics/registry.js';
import type { App } from '../app.js';

const Liveness = z.object({ status: z.literal('ok') }).openapi('Liveness');

const DependencyState = z.object({
  status: z.enum(['up', 'down']),
  latency_ms: z.number().int(),
  error: z.string().optional(),
});

const ReadinessSchema = z
  .object({
    status: z.enum(['ready', 'not_ready', 'shutting_down']),
    down: z.array(z.string()).openapi({ description: 'Names of the dependencies that are down.' }),
    checks: z.record(z.string(), DependencyState),
  })
  .openapi('Readiness');

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['operations'],
  summary: 'Liveness: the process is running and its event loop answers.',
  responses: { 200: { description: 'Alive.', content: { 'application/json': { schema: Liveness } } } },
});

const readyz = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['operations'],
  summary: 'Readiness: every dependency (PostgreSQL, Redis, Kafka, ...) answers.',
  responses: {
    200: { description: 'Ready.', content: { 'application/json': { schema: ReadinessSchema } } },
    503: {
      description: 'Not ready; `down` names the dependencies that do not answer.',
      content: { 'application/json': { schema: ReadinessSchema } },
    },
  },
});

export function registerHealthRoutes(app: App, deps: { readiness: Readiness; metrics: Metrics }): void {
  app.openapi(healthz, (c) => c.json({ status: 'ok' as const }, 200));

  app.openapi(readyz, async (c) => {
    const report = await deps.readiness.report();
    const down = Object.entries(report.checks)
      .filter(([, check]) => check.status === 'down')
      .map(([name]) => name);
    const status = deps.readiness.isShuttingDown ? 'shutting_down' : report.ready ? 'ready' : 'not_ready';
    const body = { status, down, checks: report.checks } as const;
    c.header('cache-control', 'no-store');
    return report.ready ? c.json(body, 200) : c.json(body, 503);
  });

  app.get('/metrics', async (c) => {
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const text = await deps.metrics.registry.metrics();
    const cpu = process.cpuUsage(cpuBefore);
    deps.metrics.scrapeDuration.observe((performance.now() - started) / 1_000);
    deps.metrics.scrapeCpu.inc((cpu.user + cpu.system) / 1e6);
    return c.text(text, 200, { 'content-type': deps.metrics.registry.contentType });
  });
}
