import { describe, expect, it } from 'vitest';
import { ownPipeline } from '../helpers/pipeline.js';
import { spawnProcess } from '../helpers/process.js';

// `npm start`: every component in one process (on a queue and consumer groups of its own).
describe('the all-in-one process', () => {
  it('starts every component, reports ClickHouse among its dependencies, and stops cleanly', async () => {
    const pipeline = await ownPipeline('all-in-one');
    const all = await spawnProcess('all', {
      ...pipeline.env,
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
      for (const group of [pipeline.env.FANOUT_GROUP_ID, pipeline.env.AUDIT_GROUP_ID])
        expect(metrics).toMatch(new RegExp(`hookline_kafka_consumer_lag\\{[^}]*group="${group}"`));
      expect(metrics).toContain('hookline_webhook_queue_jobs');
      expect(metrics).toContain('hookline_outbox_pending');
      const started = all.output();
      for (const component of ['admin-bootstrap', 'outbox-relay', 'fanout', 'delivery', 'audit']) {
        expect(started).toContain(`"component":"${component}","msg":"component started"`);
      }
    } finally {
      expect(await all.terminate('SIGTERM')).toBe(0);
      await pipeline.remove();
    }
  }, 120_000);
});
