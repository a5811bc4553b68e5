import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runToExit, type SpawnedProcess, spawnProcess } from '../helpers/process.js';

describe('the API process', () => {
  let api: SpawnedProcess;
  beforeAll(async () => {
    api = await spawnProcess('api');
  });
  afterAll(async () => {
    await api?.terminate('SIGKILL');
  });

  it('answers /healthz while alive', async () => {
    const response = await fetch(`${api.baseUrl}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz 200 with PostgreSQL, Redis and Kafka up', async () => {
    const response = await fetch(`${api.baseUrl}/readyz`);
    const body = (await response.json()) as {
      status: string;
      down: string[];
      checks: Record<string, { status: string }>;
    };
    expect(response.status).toBe(200);
    expect(body.status).toBe('ready');
    expect(body.down).toEqual([]);
    expect(Object.keys(body.checks).sort()).toEqual(['kafka', 'postgres', 'redis']);
    for (const check of Object.values(body.checks)) expect(check.status).toBe('up');
  });

  it('serves a valid OpenAPI 3.1 document generated from its route schemas', async () => {
    const response = await fetch(`${api.baseUrl}/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toMatch(/^3\.1\./);
    const validator = new Validator();
    const result = await validator.validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz']));
    // The committed copy (`npm run generate`, built without services) is the document the API serves.
    expect(document).toEqual(
      JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')),
    );
  });

  it('serves an interactive API reference at /docs', async () => {
    const response = await fetch(`${api.baseUrl}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    expect(await response.text()).toContain('/openapi.json');
  });

  it('exposes Prometheus metrics with route templates, never raw paths', async () => {
    await fetch(`${api.baseUrl}/no-such-thing/123`);
    const text = await (await fetch(`${api.baseUrl}/metrics`)).text();
    expect(text).toContain('hookline_http_requests_total{method="GET",route="/healthz",status_class="2xx"');
    expect(text).toContain('route="unmatched",status_class="4xx"');
    expect(text).not.toContain('/no-such-thing/123');
    expect(text).toContain('hookline_nodejs_eventloop_lag_p99_seconds');
    expect(text).toContain('hookline_metrics_scrape_duration_seconds_count');
  });

  it('answers an unknown route with problem details', async () => {
    const response = await fetch(`${api.baseUrl}/v1/nothing-here`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
  });
});

describe('process lifecycle', () => {
  it('shuts down gracefully on SIGTERM: exits 0 after closing its pools', async () => {
    const api = await spawnProcess('api');
    const code = await api.terminate('SIGTERM');
    expect(code).toBe(0);
    const lines = api.output();
    expect(lines).toContain('"shutting down"');
    expect(lines).toContain('"shutdown complete"');
  });

  it('refuses to start with a bad variable, naming it', async () => {
    const { code, output } = await runToExit('api', { KAFKA_BROKERS: 'no-port', PORT: 'x' });
    expect(code).toBe(78);
    expect(output).toContain('KAFKA_BROKERS: each broker must be host:port');
    expect(output).toContain('PORT:');
  });
});
