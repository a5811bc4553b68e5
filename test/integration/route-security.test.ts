import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminSession, signedUpUser, TEST_ADMIN_PASSWORD, uniqueEmail } from '../helpers/api.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';

// One suite for every protected route, read from the OpenAPI document the API serves: a route added
// with `security` is covered without a line here. Without a valid bearer token every one answers 401;
// each that documents a 403 answers it to a signed-in user without the admin role; a route an API key
// may call (its tag's scope) answers 403 to a key with another scope, and an admin-only route does not
// take API keys at all (401). All before any validation of the request: a caller without the right
// learns nothing of what a valid request would be.

interface Operation {
  method: string;
  path: string;
  tags?: string[];
  security?: unknown[];
  responses: Record<string, unknown>;
}

const ADMIN_EMAIL = uniqueEmail('security-admin');
let platform: TestPlatform;
let operations: Operation[] = [];
let userToken = '';
/** An API key per scope. */
const keys: Record<string, string> = {};
/** The scope an API key needs for the routes of a tag. */
const scopeOfTag: Record<string, string> = { webhooks: 'webhooks:manage', audit: 'audit:read' };

/** The path with every parameter a fresh id (the route is refused before the id is looked up). */
const concrete = (path: string) => path.replace(/\{[^}]+\}/g, '01890a5d-ac96-774b-bcce-b302099a8057');
const call = (operation: Operation, token?: string) =>
  fetch(`${platform.baseUrl}${concrete(operation.path)}`, {
    method: operation.method.toUpperCase(),
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(['get', 'delete'].includes(operation.method) ? {} : { body: '{}' }),
  });

beforeAll(async () => {
  platform = await startPlatform({ ADMIN_EMAIL, ADMIN_PASSWORD: TEST_ADMIN_PASSWORD });
  const document = (await (await fetch(`${platform.baseUrl}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, Omit<Operation, 'method' | 'path'>>>;
  };
  operations = Object.entries(document.paths).flatMap(([path, byMethod]) =>
    Object.entries(byMethod).map(([method, operation]) => ({ ...operation, method, path })),
  );
  userToken = (await signedUpUser(platform.baseUrl, 'no-role')).tokens.access_token;
  const admin = await adminSession(platform.baseUrl, ADMIN_EMAIL);
  for (const scope of Object.values(scopeOfTag)) {
    const key = await admin.client.call<{ key: string }>('POST', '/v1/api-keys', {
      token: admin.token,
      body: { name: `only ${scope}`, scopes: [scope] },
    });
    expect(key.status).toBe(201);
    keys[scope] = key.body.key;
  }
});

afterAll(async () => {
  await platform?.stop();
});

describe('every protected route', () => {
  it('is documented: the document lists protected routes, each with its 401', () => {
    const secured = operations.filter((operation) => operation.security?.length);
    expect(secured.length).toBeGreaterThan(30);
    for (const operation of secured) expect(Object.keys(operation.responses)).toContain('401');
  });

  it('answers 401 without a token, and with a token that is not one of ours', async () => {
    for (const operation of operations.filter((o) => o.security?.length)) {
      for (const token of [undefined, 'not-a-token', `${userToken.slice(0, -4)}AAAA`]) {
        const answer = await call(operation, token);
        expect(
          answer.status,
          `${operation.method} ${operation.path} with ${token ? 'a bad token' : 'none'}`,
        ).toBe(401);
        expect(answer.headers.get('content-type')).toContain('application/problem+json');
      }
    }
  });

  it('answers 403 where it documents one, to a user without the admin role', async () => {
    const guarded = operations.filter((o) => o.security?.length && '403' in o.responses);
    expect(guarded.length).toBeGreaterThan(20);
    for (const operation of guarded) {
      expect((await call(operation, userToken)).status, `${operation.method} ${operation.path}`).toBe(403);
    }
  });

  it('answers 403 to an API key without its scope, and 401 to any key where keys are not taken', async () => {
    for (const operation of operations.filter((o) => o.security?.length && '403' in o.responses)) {
      const needed = scopeOfTag[operation.tags?.[0] ?? ''];
      for (const [scope, key] of Object.entries(keys)) {
        const expected = needed === undefined ? 401 : scope === needed ? undefined : 403;
        if (expected === undefined) continue; // the key's own scope: allowed (the route's own tests)
        const answer = await call(operation, key);
        expect(answer.status, `${operation.method} ${operation.path} with a ${scope} key`).toBe(expected);
      }
    }
  });
});
