import { createRoute, z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { newApp } from '../../src/http/app.js';
import { testLogger } from '../helpers/logger.js';

const BODY_LIMIT = 2_048;

/** A tiny app made the way every hookline app is made, with one JSON route to exercise the edges. */
function tinyApp() {
  const app = newApp({ logger: testLogger, bodyLimitBytes: BODY_LIMIT });
  const echo = createRoute({
    method: 'post',
    path: '/things/{id}',
    request: {
      params: z.object({ id: z.uuid() }),
      query: z.object({ limit: z.coerce.number().int().min(1).max(100).optional() }),
      body: {
        required: true,
        content: { 'application/json': { schema: z.object({ email: z.email(), name: z.string().max(20) }) } },
      },
    },
    responses: { 200: { description: 'echo' } },
  });
  app.openapi(echo, (c) => c.json(c.req.valid('json'), 200));
  app.get('/boom', () => {
    throw new Error('password=hunter2 at db.internal:5432');
  });
  app.get('/conflict', () => {
    throw new AppError('conflict', 'That email is already registered.');
  });
  app.get('/limited', () => {
    throw new AppError('rate_limited', 'Too many attempts.', { retryAfterSeconds: 30 });
  });
  return app;
}

const id = '6f1c2b7e-8a43-4a55-9f0e-3f8f3c7d2a10';
const json = (body: string, headers: Record<string, string> = {}) => ({
  method: 'POST',
  body,
  headers: { 'content-type': 'application/json', ...headers },
});

async function problemOf(response: Response) {
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  return (await response.json()) as Record<string, unknown> & { errors?: { field: string }[] };
}

describe('problem details', () => {
  it('answers malformed JSON with 400 problem details', async () => {
    const response = await tinyApp().request(`/things/${id}`, json('{"email": "a@b.c",'));
    expect(response.status).toBe(400);
    const problem = await problemOf(response);
    expect(problem).toMatchObject({ status: 400, code: 'malformed_request', title: 'Malformed request' });
    expect(problem.detail).toMatch(/malformed json/i);
  });

  it('answers a body over the limit with 413', async () => {
    const big = JSON.stringify({ email: 'a@example.com', name: 'x'.repeat(BODY_LIMIT) });
    const response = await tinyApp().request(`/things/${id}`, json(big));
    expect(response.status).toBe(413);
    expect(await problemOf(response)).toMatchObject({ status: 413, code: 'payload_too_large' });
  });

  it('answers an unknown route with a 404 naming the method and path', async () => {
    const response = await tinyApp().request('/no/such/route', { method: 'DELETE' });
    expect(response.status).toBe(404);
    const problem = await problemOf(response);
    expect(problem).toMatchObject({ status: 404, code: 'not_found', instance: '/no/such/route' });
    expect(problem.detail).toContain('DELETE /no/such/route');
  });

  it('names every invalid field of the body, query and path', async () => {
    const response = await tinyApp().request(
      '/things/not-a-uuid?limit=0',
      json(JSON.stringify({ email: 'nope', name: 'x'.repeat(21) })),
    );
    expect(response.status).toBe(400);
    const problem = await problemOf(response);
    expect(problem.code).toBe('validation_failed');
    // Targets are validated one after another; the answer names the bad fields of the first that fails.
    const fields = problem.errors?.map((e) => e.field) ?? [];
    expect(fields.length).toBeGreaterThan(0);
    for (const field of fields)
      expect(['path.id', 'query.limit', 'body.email', 'body.name']).toContain(field);

    const bodyOnly = await tinyApp().request(
      `/things/${id}`,
      json(JSON.stringify({ email: 'nope', name: 'x'.repeat(21) })),
    );
    const bodyProblem = await problemOf(bodyOnly);
    expect(bodyProblem.errors?.map((e) => e.field).sort()).toEqual(['body.email', 'body.name']);

    const queryOnly = await tinyApp().request(
      `/things/${id}?limit=1000`,
      json(JSON.stringify({ email: 'a@b.co', name: 'n' })),
    );
    expect((await problemOf(queryOnly)).errors?.map((e) => e.field)).toEqual(['query.limit']);
  });

  it('refuses a body that is not JSON with 415', async () => {
    const response = await tinyApp().request(`/things/${id}`, {
      method: 'POST',
      body: 'email=a@b.c',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(response.status).toBe(415);
    expect(await problemOf(response)).toMatchObject({ code: 'unsupported_media_type' });
  });

  it('never leaks the message of an unexpected error, and gives a request id to quote', async () => {
    const response = await tinyApp().request('/boom', { headers: { 'x-request-id': 'req-123' } });
    expect(response.status).toBe(500);
    const text = await response.clone().text();
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('db.internal');
    const problem = await problemOf(response);
    expect(problem).toMatchObject({ status: 500, code: 'internal', request_id: 'req-123' });
    expect(response.headers.get('x-request-id')).toBe('req-123');
  });

  it('maps a domain error code to its status and keeps its message', async () => {
    const response = await tinyApp().request('/conflict');
    expect(response.status).toBe(409);
    expect(await problemOf(response)).toMatchObject({
      type: '/problems/conflict',
      code: 'conflict',
      detail: 'That email is already registered.',
    });
  });

  it('sends Retry-After with a rate-limit refusal', async () => {
    const response = await tinyApp().request('/limited');
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('30');
  });

  it('replaces a request id that is not plain with its own', async () => {
    const response = await tinyApp().request('/nowhere', {
      headers: { 'x-request-id': 'bad id; drop table' },
    });
    const problem = await problemOf(response);
    expect(problem.request_id).toMatch(/^[0-9a-f-]{36}$/);
  });
});
