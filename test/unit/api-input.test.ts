import { createRoute, z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { Timestamp } from '../../src/db/time.js';
import { badTextErrors, newApp } from '../../src/http/app.js';
import { testLogger } from '../helpers/logger.js';

/** An app made the way every hookline app is made, with a body, a query and a second method on a path. */
function tinyApp() {
  const app = newApp({ logger: testLogger, bodyLimitBytes: 4_096 });
  app.openapi(
    createRoute({
      method: 'post',
      path: '/things/{id}',
      request: {
        params: z.object({ id: z.string() }),
        query: z.object({ q: z.string().optional() }),
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z.object({
                name: z.string().optional(),
                tags: z.array(z.string()).optional(),
                labels: z.record(z.string(), z.string()).optional(),
              }),
            },
          },
        },
      },
      responses: { 200: { description: 'echo' } },
    }),
    (c) => c.json(c.req.valid('json'), 200),
  );
  app.get('/things/:id', (c) => c.json({ id: c.req.param('id') }));
  return app;
}

const post = (body: string, query = '') =>
  tinyApp().request(`/things/1${query}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
  });
const fieldsOf = async (response: Response) =>
  ((await response.json()) as { errors?: { field: string }[] }).errors?.map((e) => e.field) ?? [];

describe('the text rule of every input', () => {
  it('refuses unpaired surrogates in strings, array items and object keys, naming each', async () => {
    const response = await post('{"name":"\\udfff","tags":["ok","a\\ud800"],"labels":{"k\\udc00":"v"}}');
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await fieldsOf(response)).toEqual(['body.name', 'body.tags.1', 'body.labels.k\ufffd']);
  });

  it('refuses NUL in a body and in a query', async () => {
    expect(await fieldsOf(await post('{"labels":{"a":"x\\u0000"}}'))).toEqual(['body.labels.a']);
    expect(await fieldsOf(await post('{}', '?q=a%00b'))).toEqual(['query.q']);
  });

  it('lets well-formed text through, astral characters included', async () => {
    const response = await post('{"name":"Ada 😀 \\ud83d\\ude00","labels":{"é":"ü"}}');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ name: 'Ada 😀 😀', labels: { é: 'ü' } });
  });

  it('reports bad text next to the other field errors when validation fails too', async () => {
    const response = await post('{"name":5,"labels":{"x":"\\udfff"}}');
    expect(response.status).toBe(400);
    expect((await fieldsOf(response)).sort()).toEqual(['body.labels.x', 'body.name']);
    // A bad key whose value is invalid too: both errors name it with U+FFFD, never with the surrogate.
    const badKey = await post('{"labels":{"k\\udc00":5}}');
    expect(await fieldsOf(badKey)).toEqual(['body.labels.k\ufffd', 'body.labels.k\ufffd']);
  });

  it('refuses a JSON body that is not UTF-8', async () => {
    const response = await tinyApp().request('/things/1', {
      method: 'POST',
      body: new Uint8Array([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'malformed_request' });
  });

  it('names nothing in well-formed values', () => {
    expect(badTextErrors({ a: ['b', { c: 'd' }], n: 1, z: null }, 'body')).toEqual([]);
  });
});

describe('a required body', () => {
  it('is refused when absent, naming body', async () => {
    const response = await tinyApp().request('/things/1', { method: 'POST' });
    expect(response.status).toBe(400);
    expect(await fieldsOf(response)).toEqual(['body']);
  });
});

describe('methods a path does not have', () => {
  it('answer 405 with Allow listing the methods it has (HEAD with GET)', async () => {
    const response = await tinyApp().request('/things/1', { method: 'DELETE' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD, POST');
    expect(await response.json()).toMatchObject({ code: 'method_not_allowed', status: 405 });
  });

  it('leave unknown paths a 404 and HEAD of a GET route answered', async () => {
    expect((await tinyApp().request('/things/1/more', { method: 'DELETE' })).status).toBe(404);
    expect((await tinyApp().request('/things/1', { method: 'HEAD' })).status).toBe(200);
  });
});

describe('the shared date schema', () => {
  it.each([
    '1970-01-01T00:00:00Z',
    '9999-12-31T23:59:59.999Z',
    '2024-02-29T12:00:00+14:00',
    '2024-06-01T08:30:00.123456-12:00',
  ])('accepts %s', (value) => {
    expect(Timestamp.safeParse(value).success).toBe(true);
  });

  it.each([
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:00:00+00:10',
    '1969-12-31T23:59:59.999Z',
    '9999-12-31T23:59:59-01:00',
    '2024-01-01T00:00:00+23:59',
    '2024-01-01T00:00:00-14:01',
    '2023-02-29T00:00:00Z',
    '10000-01-01T00:00:00Z',
  ])('refuses %s', (value) => {
    expect(Timestamp.safeParse(value).success).toBe(false);
  });
});
