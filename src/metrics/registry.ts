import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { metricNames } from './names.js';

/**
 * One registry per process, made at boot and passed down; `/metrics` serves it. Process defaults
 * (event-loop lag, heap, GC) are included. Later modules add their own metrics to the same registry.
 */
export function createMetrics(options: { process: string }) {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'hookline', process: options.process });
  collectDefaultMetrics({ register: registry, prefix: 'hookline_' });

  const httpRequestDuration = new Histogram({
    name: metricNames.httpRequestDuration,
    help: 'HTTP request duration by method, route template and status class.',
    labelNames: ['method', 'route', 'status_class'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const httpRequests = new Counter({
    name: metricNames.httpRequests,
    help: 'HTTP requests by method, route template and status class.',
    labelNames: ['method', 'route', 'status_class'] as const,
    registers: [registry],
  });

  const scrapeDuration = new Histogram({
    name: metricNames.scrapeDuration,
    help: 'Time to render /metrics (its cost to the process; the current scrape shows in the next one).',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05],
    registers: [registry],
  });

  // Every collector answers from memory (see sampled.ts), so a render runs start to end without
  // yielding to other work: this is its own CPU (plus any of the process's other threads meanwhile).
  const scrapeCpu = new Counter({
    name: metricNames.scrapeCpu,
    help: 'CPU time of the process while it rendered /metrics (an upper bound of the cost: it includes its other threads meanwhile, e.g. password hashing).',
    registers: [registry],
  });

  return {
    registry,
    scrapeDuration,
    scrapeCpu,
    http: { requestDuration: httpRequestDuration, requests: httpRequests },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
