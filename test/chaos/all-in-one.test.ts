import { describe, expect, it } from 'vitest';
import { spawnProcess } from '../helpers/process.js';

// `npm start`: every component in one process. It runs delivery workers on the shared queue, so it
// runs in the `chaos` project, alone.
describe('the all-in-one process', () => {
  it('starts every component, reports ClickHouse among its dependencies, and stops cleanly', async () => {
    const all = await spawnProcess('all', {
      WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      WEBHOOK_ALLOW_HTTP: 'true',
    });
    try {
      const ready = (await (await fetch(`${all.baseUrl}/readyz`)).json()) as {
        status: string;
        checks: Record<string, unknown>;
      };
      expect(ready.status).toBe('ready');
      expect(Object.keys(ready.checks).sort()).toEqual(['clickhouse', 'kafka', 'postgres', 'redis']);
      const metrics = await (await fetch(`${all.baseUrl}/metrics`)).text();
      expect(metrics).toMatch(/hookline_kafka_consumer_lag\{[^}]*group="hookline-fanout"/);
      expect(metrics).toMatch(/hookline_kafka_consumer_lag\{[^}]*group="hookline-audit"/);
      expect(metrics).toContain('hookline_webhook_queue_jobs');
      expect(metrics).toContain('hookline_outbox_pending');
      const started = all.output();
      for (const component of ['admin-bootstrap', 'outbox-relay', 'fanout', 'delivery', 'audit']) {
        expect(started).toContain(`"component":"${component}","msg":"component started"`);
      }
    } finally {
      expect(await all.terminate('SIGTERM')).toBe(0);
    }
  }, 120_000);
});
