import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DATASOURCE, dashboardSpecs, renderDashboardFiles } from '../../grafana/dashboards.js';

const _folder = new URL('../../grafana/dashboards/', import.meta.url);

describe('the Grafana dashboards', () => {
  const files = renderDashboardFiles();

  it('include Auth and Webhooks, with the panels the issue asks for', () => {
    const titles = (spec: { panels: { title: string }[] }) => spec.panels.map((panel) => panel.title);
    expect(titles(dashboardSpecs.auth)).toEqual(
      expect.arrayContaining([
        'Logins per minute, by result',
        'Failed logins per minute, by reason',
        'Login failure ratio',
        'Active sessions',
        'Registrations per day',
        'API latency p95, by route',
        'Rate-limit refusals per minute, by limit',
        'Security alerts, by kind (last hour)',
      ]),
    );
    expect(titles(dashboardSpecs.webhooks)).toEqual(
      expect.arrayContaining([
        'Deliveries per second, by outcome',
        'End-to-end latency',
        'Attempt latency',
        'Queue depth, by state',
        'Dead letters',
        'Consumer lag, by group',
        'Outbox backlog',
        'Top failing subscriptions',
      ]),
    );
  });

  it('use the provisioned Prometheus data source, unique panel ids and a 24-column grid', () => {
    const provisioned = readFileSync(
      new URL('../../grafana/provisioning/datasources/prometheus.yml', import.meta.url),
      'utf8',
    );
    expect(provisioned).toContain(`uid: ${DATASOURCE.uid}`);
    expect(provisioned).toContain(`type: ${DATASOURCE.type}`);
    for (const [name, text] of Object.entries(files)) {
      const dashboard = JSON.parse(text) as {
        uid: string;
        panels: {
          id: number;
          gridPos: { x: number; w: number };
          datasource: unknown;
          targets: { expr: string; refId: string; datasource: unknown }[];
        }[];
      };
      const ids = dashboard.panels.map((panel) => panel.id);
      expect(new Set(ids).size, name).toBe(ids.length);
      for (const panel of dashboard.panels) {
        expect(panel.gridPos.x + panel.gridPos.w, name).toBeLessThanOrEqual(24);
        expect(panel.datasource).toEqual(DATASOURCE);
        expect(panel.targets.length).toBeGreaterThan(0);
        for (const target of panel.targets) {
          expect(target.datasource).toEqual(DATASOURCE);
          expect(target.expr).toMatch(/hookline_|^up\{/);
        }
      }
    }
  });
});
