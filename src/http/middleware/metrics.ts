import type { MiddlewareHandler } from 'hono';
import type { Metrics } from '../../metrics/registry.js';

/**
 * Records each request's duration and count by method, route template (never the raw path, so ids
 * do not explode cardinality) and status class. Unmatched paths are counted under `unmatched`.
 */
export function httpMetrics(metrics: Metrics): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const matched = c.res.status !== 404 || c.req.routePath !== '/*';
      const labels = {
        method: c.req.method,
        route: matched ? c.req.routePath : 'unmatched',
        status_class: `${Math.floor(c.res.status / 100)}xx`,
      };
      metrics.http.requestDuration.observe(labels, (performance.now() - started) / 1_000);
      metrics.http.requests.inc(labels);
    }
  };
}
