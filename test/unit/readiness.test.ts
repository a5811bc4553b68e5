import { describe, expect, it } from 'vitest';
import { Readiness } from '../../src/health/readiness.js';

describe('readiness', () => {
  it('is ready when every dependency answers', async () => {
    const readiness = new Readiness({ a: async () => 1, b: async () => 'ok' }, 500);
    const report = await readiness.report();
    expect(report.ready).toBe(true);
    expect(report.checks.a?.status).toBe('up');
    expect(report.checks.b?.status).toBe('up');
  });

  it('names the dependency that throws, with its reason', async () => {
    const readiness = new Readiness(
      {
        postgres: async () => 1,
        redis: async () => {
          throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
        },
      },
      500,
    );
    const report = await readiness.report();
    expect(report.ready).toBe(false);
    expect(report.checks.postgres?.status).toBe('up');
    expect(report.checks.redis).toMatchObject({
      status: 'down',
      error: 'connect ECONNREFUSED 127.0.0.1:6379',
    });
  });

  it('marks a dependency that does not answer in time as down', async () => {
    const readiness = new Readiness({ kafka: () => new Promise(() => {}) }, 50);
    const report = await readiness.report();
    expect(report.ready).toBe(false);
    expect(report.checks.kafka).toMatchObject({ status: 'down', error: 'no answer within 50 ms' });
  });

  it('is not ready once shutting down, even with every dependency up', async () => {
    const readiness = new Readiness({ a: async () => 1 }, 500);
    readiness.markShuttingDown();
    expect((await readiness.report()).ready).toBe(false);
  });
});
