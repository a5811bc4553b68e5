import { readdirSync, readFileSync } from 'node:fs';
import { Histogram } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createAuthMetrics } from '../../src/auth/metrics.js';
import type { Sql } from '../../src/db/client.js';
import { metricNames } from '../../src/metrics/names.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { createWebhookMetrics } from '../../src/webhooks/metrics.js';

const root = new URL('../../', import.meta.url);
const known = new Set<string>(Object.values(metricNames));

/** Each file of a folder with the extension, as text (keyed by its path). */
const filesIn = (folder: string, extension: string) =>
  readdirSync(new URL(folder, root))
    .filter((name) => name.endsWith(extension))
    .map((name) => [`${folder}${name}`, readFileSync(new URL(`${folder}${name}`, root), 'utf8')] as const);

/** The metrics registered without services: the process defaults and every histogram's module. */
function registered() {
  const { registry } = createMetrics({ process: 'test' });
  // The SQL is read only when scraped, which this never does.
  createAuthMetrics(registry, undefined as unknown as Sql);
  createWebhookMetrics(registry);
  return registry.getMetricsAsArray();
}

/** A series name as the metric it belongs to: prom-client derives a histogram's `_bucket`, `_sum`, `_count`. */
function metricOf(series: string, histograms: ReadonlySet<string>): string {
  const base = series.replace(/_(bucket|sum|count)$/, '');
  return !known.has(series) && histograms.has(base) ? base : series;
}

describe('metric names', () => {
  const metrics = registered();
  const histograms = new Set(metrics.filter((metric) => metric instanceof Histogram).map((m) => m.name));

  it('are unique', () => {
    expect(new Set(Object.values(metricNames)).size).toBe(Object.keys(metricNames).length);
  });

  // Alerts and panels query by name: one the code does not define is a rule that never fires, a panel
  // that stays empty. (The scrape configs name none; the rules, their tests and the dashboards do.)
  const files = [...filesIn('prometheus/', '.yml'), ...filesIn('grafana/dashboards/', '.json')];
  const used = new Map(files.map(([path, text]) => [path, [...new Set(text.match(/hookline_[a-z0-9_]+/g))]]));

  it.each(files.map(([path]) => path))('%s names only metrics the code defines', (path) => {
    for (const series of used.get(path) ?? []) {
      expect([...known], `${path}: ${series}`).toContain(metricOf(series, histograms));
    }
  });

  it('are read from the alert rules, their tests and every dashboard', () => {
    const naming = [...used].filter(([, names]) => names.length > 0).map(([path]) => path);
    expect(naming).toEqual(
      expect.arrayContaining([
        'prometheus/alerts.yml',
        'prometheus/alerts.test.yml',
        'grafana/dashboards/auth.json',
      ]),
    );
    expect(naming.filter((path) => path.startsWith('grafana/'))).toHaveLength(
      files.filter(([path]) => path.startsWith('grafana/')).length,
    );
  });

  it('take a histogram suffix only after a histogram', () => {
    expect(histograms.size).toBeGreaterThan(0);
    expect(metricOf(`${metricNames.webhookE2eLatency}_bucket`, histograms)).toBe(
      metricNames.webhookE2eLatency,
    );
    expect(metricOf(`${metricNames.outboxPending}_count`, histograms)).toBe(
      `${metricNames.outboxPending}_count`,
    );
  });

  // Names not given in a metric's `name:` are prom-client's defaults, prefixed by createMetrics.
  it('each name a metric of the code: defined with `name: metricNames.x`, or a process default', () => {
    const sources = readdirSync(new URL('src/', root), { recursive: true, encoding: 'utf8' })
      .filter((path) => path.endsWith('.ts'))
      .map((path) => readFileSync(new URL(`src/${path}`, root), 'utf8'));
    const defined = sources.flatMap((text) =>
      [...text.matchAll(/\bname: metricNames\.(\w+)/g)].map((m) => m[1]),
    );
    expect(sources.join('\n')).not.toMatch(/\bname: ['`]hookline_/);
    expect(new Set(defined).size, 'a name defined twice').toBe(defined.length);
    const defaults = new Set(metrics.map((metric) => metric.name));
    for (const [key, name] of Object.entries(metricNames)) {
      if (!defined.includes(key)) expect(defaults.has(name), `${key}: ${name}`).toBe(true);
    }
  });
});
