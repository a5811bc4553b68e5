import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiClient,
  adminSession,
  apiClient,
  STRONG_PASSWORD,
  signedUpUser,
  TEST_ADMIN_PASSWORD,
  uniqueEmail,
} from '../helpers/api.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';

/**
 * Input the database cannot store as sent (bad Unicode, dates out of range) is refused at the edge with
 * a 400 naming the field, never a 500 nor a silently altered value; the API answers and documents what
 * its OpenAPI document says (405 with Allow, 429, formats, required bodies).
 */

const ADMIN_EMAIL = uniqueEmail('input-admin');
let platform: TestPlatform;
let admin: { client: ApiClient; token: string };
/** Whatever a test made, deleted afterwards even when it failed (old code accepted some of it). */
const subscriptions: string[] = [];
const apiKeys: string[] = [];
let disabledSubscription: string;

interface Problem {
  code: string;
  errors?: { field: string; message: string }[];
}
const fieldsOf = (body: unknown) => ((body as Problem).errors ?? []).map((error) => error.field);

beforeAll(async () => {
  platform = await startPlatform({ ADMIN_EMAIL, ADMIN_PASSWORD: TEST_ADMIN_PASSWORD });
  admin = await adminSession(platform.baseUrl, ADMIN_EMAIL);
  // Disabled, and for an event type nothing sends: no fan-out (of any test's platform) ever targets it.
  const made = await createSubscription({ enabled: false });
  expect(made.status).toBe(201);
  disabledSubscription = (made.body as { id: string }).id;
});
afterAll(async () => {
  for (const id of subscriptions)
    await admin?.client.call('DELETE', `/v1/webhooks/subscriptions/${id}`, { token: admin.token });
  for (const id of apiKeys) await admin?.client.call('DELETE', `/v1/api-keys/${id}`, { token: admin.token });
  await platform?.stop();
});

async function createSubscription(extra: Record<string, unknown>) {
  const answer = await admin.client.call('POST', '/v1/webhooks/subscriptions', {
    token: admin.token,
    body: { url: 'http://127.0.0.1:9/never-called', event_types: ['webhook.test'], enabled: false, ...extra },
  });
  if (answer.status === 201) subscriptions.push((answer.body as { id: string }).id);
  return answer;
}

describe('text that is not well-formed Unicode', () => {
  it('is refused with 400 naming the field where it would go into a jsonb column (PATCH /v1/me name)', async () => {
    const user = await signedUpUser(platform.baseUrl, 'surrogate');
    const token = user.tokens.access_token;
    const answer = await user.client.call('PATCH', '/v1/me', { token, body: { name: 'Ada \udfff' } });
    expect(answer.status).toBe(400);
    expect(answer.headers.get('content-type')).toBe('application/problem+json');
    expect(answer.body).toMatchObject({ code: 'validation_failed' });
    expect(fieldsOf(answer.body)).toEqual(['body.name']);
    const me = await user.client.call<{ name: string }>('GET', '/v1/me', { token });
    expect(me.body.name).toBe('surrogate');
  });

  it.each([
    [{ metadata: { foo: 'a\udfffb' } }, 'body.metadata.foo'],
    [{ metadata: { 'k\ud800': 'v' } }, 'body.metadata.k\ufffd'],
    [{ headers: { 'X-Note': '\ud800' } }, 'body.headers.X-Note'],
    [{ description: 'lonely \udc00 half' }, 'body.description'],
  ])('is refused in a subscription %j with 400 naming %s', async (extra, field) => {
    const answer = await createSubscription(extra);
    expect(answer.status).toBe(400);
    expect(fieldsOf(answer.body)).toEqual([field]);
  });

  it('is refused in a subscription update, and the subscription keeps its values', async () => {
    const path = `/v1/webhooks/subscriptions/${disabledSubscription}`;
    const answer = await admin.client.call('PATCH', path, {
      token: admin.token,
      body: { description: 'ok', metadata: { team: '\udfff' } },
    });
    expect(answer.status).toBe(400);
    expect(fieldsOf(answer.body)).toEqual(['body.metadata.team']);
    const current = await admin.client.call<{ description: string | null; metadata: object }>('GET', path, {
      token: admin.token,
    });
    expect(current.body.description).toBeNull();
    expect(current.body.metadata).toEqual({});
  });

  it('is refused, not replaced, in a registration name', async () => {
    const client = apiClient(platform.baseUrl);
    const email = uniqueEmail('surrogate-reg');
    const answer = await client.call('POST', '/v1/auth/register', {
      body: { email, password: STRONG_PASSWORD, name: 'Grace \udfff' },
    });
    expect(answer.status).toBe(400);
    expect(fieldsOf(answer.body)).toEqual(['body.name']);
    const login = await client.call('POST', '/v1/auth/login', { body: { email, password: STRONG_PASSWORD } });
    expect(login.status).toBe(401);
  });

  it('is refused, not replaced, in an API key name', async () => {
    const answer = await admin.client.call('POST', '/v1/api-keys', {
      token: admin.token,
      body: { name: 'deploy \ud800', scopes: ['webhooks:manage'] },
    });
    if (answer.status === 201) apiKeys.push((answer.body as { id: string }).id);
    expect(answer.status).toBe(400);
    expect(fieldsOf(answer.body)).toEqual(['body.name']);
  });

  it('refuses a JSON body that is not UTF-8 instead of storing U+FFFD', async () => {
    const user = await signedUpUser(platform.baseUrl, 'latin1');
    const response = await fetch(`${platform.baseUrl}/v1/me`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${user.tokens.access_token}`, 'content-type': 'application/json' },
      body: Buffer.concat([Buffer.from('{"name":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'malformed_request' });
    const me = await user.client.call<{ name: string }>('GET', '/v1/me', { token: user.tokens.access_token });
    expect(me.body.name).toBe('latin1');
  });
});

describe('dates PostgreSQL cannot store', () => {
  it.each([
    ['from=0000-01-01T00:00:00Z', 'query.from'],
    ['from=1969-12-31T23:59:59Z', 'query.from'],
    ['to=9999-12-31T23:59:59-01:00', 'query.to'],
    ['from=2024-01-01T00:00:00%2B23:59', 'query.from'],
  ])('GET /v1/webhooks/deliveries?%s is refused with 400 naming %s', async (query, field) => {
    const answer = await admin.client.call('GET', `/v1/webhooks/deliveries?${query}`, { token: admin.token });
    expect(answer.status).toBe(400);
    expect(fieldsOf(answer.body)).toEqual([field]);
  });

  it('GET /v1/webhooks/deliveries accepts the bounds of the documented range', async () => {
    const query = 'from=1970-01-01T00:00:00Z&to=9999-12-31T23:59:59.999Z';
    const answer = await admin.client.call('GET', `/v1/webhooks/deliveries?${query}`, { token: admin.token });
    expect(answer.status).toBe(200);
  });

  it.each([
    [{ since: '0001-01-01T00:00:00+00:10' }, 'body.since'],
    [{ since: '2024-01-01T00:00:00Z', until: '9999-12-31T23:59:59-01:00' }, 'body.until'],
    [{ since: '0000-01-01T00:00:00Z' }, 'body.since'],
  ])('recover with %j is refused with 400 naming %s', async (body, field) => {
    const answer = await admin.client.call(
      'POST',
      `/v1/webhooks/subscriptions/${disabledSubscription}/recover`,
      { token: admin.token, body },
    );
    expect(answer.status).toBe(400);
    expect(fieldsOf(answer.body)).toEqual([field]);
  });

  it('recover accepts a window inside the range', async () => {
    const answer = await admin.client.call(
      'POST',
      `/v1/webhooks/subscriptions/${disabledSubscription}/recover`,
      { token: admin.token, body: { since: '1970-01-01T00:00:00Z', until: '9999-12-31T23:59:59Z' } },
    );
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ recovered: 0 });
  });

  it('the audit log bounds its dates the same way', async () => {
    const answer = await admin.client.call('GET', '/v1/audit/events?from=0000-01-01T00:00:00Z', {
      token: admin.token,
    });
    expect(answer.status).toBe(400);
    expect(fieldsOf(answer.body)).toEqual(['query.from']);
  });
});

describe('the API answers as its OpenAPI document says', () => {
  it.each([
    ['PUT', '/v1/me', 'GET, HEAD, PATCH'],
    ['GET', '/v1/auth/register', 'POST'],
    ['DELETE', '/healthz', 'GET, HEAD'],
    ['GET', '/v1/users/6f1c2b7e-8a43-4a55-9f0e-3f8f3c7d2a10/role', 'PUT'],
    ['OPTIONS', '/v1/webhooks/subscriptions', 'GET, HEAD, POST'],
  ])('%s %s answers 405 problem details with Allow: %s', async (method, path, allow) => {
    const response = await fetch(`${platform.baseUrl}${path}`, { method });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe(allow);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ status: 405, code: 'method_not_allowed' });
  });

  it('still answers 404 for a path it does not have', async () => {
    const response = await fetch(`${platform.baseUrl}/v1/me/nothing-here`, { method: 'PUT' });
    expect(response.status).toBe(404);
    expect(response.headers.get('allow')).toBeNull();
  });

  it('refuses a request without the body its operation requires, naming body', async () => {
    const user = await signedUpUser(platform.baseUrl, 'nobody');
    const answer = await user.client.call('PATCH', '/v1/me', { token: user.tokens.access_token });
    expect(answer.status).toBe(400);
    expect(fieldsOf(answer.body)).toEqual(['body']);
  });

  it('documents 405 with Allow, 429 on register, email formats and required bodies', async () => {
    type Operation = {
      requestBody?: { required?: boolean };
      responses: Record<string, { headers?: Record<string, unknown> }>;
    };
    const document = (await (await fetch(`${platform.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
      components: {
        responses: Record<string, { headers: Record<string, { required: boolean }> }>;
        schemas: Record<string, { properties: Record<string, { format?: string }> }>;
      };
    };
    expect(document.components.responses.MethodNotAllowed?.headers.Allow?.required).toBe(true);
    const register = document.paths['/v1/auth/register']?.post;
    expect(register?.responses['429']?.headers).toHaveProperty('Retry-After');
    expect(document.paths['/v1/me/password']?.post?.responses).toHaveProperty('429');
    expect(document.components.schemas.RegisterRequest?.properties.email?.format).toBe('email');
    expect(document.components.schemas.LoginRequest?.properties.email?.format).toBe('email');
    const withBodies = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => operation.requestBody)
        .map(([method, operation]) => ({ operation: `${method} ${path}`, ...operation })),
    );
    expect(withBodies.length).toBeGreaterThan(8);
    for (const { operation, requestBody, responses } of withBodies) {
      expect(requestBody?.required, operation).toBe(true);
      for (const status of ['400', '413', '415']) expect(responses, operation).toHaveProperty(status);
    }
  });
});
