import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthDeps } from '../../src/auth/context.js';
import { AccessTokens } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config/load.js';
import { newApp } from '../../src/http/app.js';
import { registerAuthRoutes } from '../../src/http/routes/auth.js';
import { createDependencies } from '../../src/platform/dependencies.js';
import {
  adminSession,
  apiClient,
  randomIp,
  STRONG_PASSWORD,
  signedUpUser,
  TEST_ADMIN_PASSWORD,
  type Tokens,
  uniqueEmail,
} from '../helpers/api.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { captureLogs } from '../helpers/logger.js';
import { startPlatform, TEST_JWT_SECRET, type TestPlatform } from '../helpers/platform.js';

// Points 2, 6, 8, 9 and 10 of issue 11 (hardening after a security probe), through the real API.
const ADMIN_EMAIL = uniqueEmail('hardening-admin');
let platform: TestPlatform;
let admin: { token: string; client: ReturnType<typeof apiClient> };
const subscriptions: string[] = [];

beforeAll(async () => {
  platform = await startPlatform({ ADMIN_EMAIL, ADMIN_PASSWORD: TEST_ADMIN_PASSWORD });
  admin = await adminSession(platform.baseUrl, ADMIN_EMAIL);
});
afterAll(async () => {
  for (const id of subscriptions)
    await admin?.client.call('DELETE', `/v1/webhooks/subscriptions/${id}`, { token: admin.token });
  await platform?.stop();
});

interface Problem {
  type: string;
  status: number;
  errors?: { field: string; message: string; code?: string }[];
}

/** Creates a subscription (kept for clean-up even when the test expected a refusal). */
async function createSubscription(headers: Record<string, string>) {
  const answer = await admin.client.call<Problem & { id?: string; headers?: Record<string, string> }>(
    'POST',
    '/v1/webhooks/subscriptions',
    // Only `webhook.test` events, sent on request: no other test's events ever go to it.
    {
      token: admin.token,
      body: { url: 'http://127.0.0.1:9/hardening', event_types: ['webhook.test'], headers },
    },
  );
  if (answer.body.id) subscriptions.push(answer.body.id);
  return answer;
}

describe('custom webhook headers', () => {
  it.each([
    ['Keep-Alive', 'timeout=5'],
    ['Connection', 'close'],
    ['Transfer-Encoding', 'chunked'],
    ['Upgrade', 'websocket'],
    ['TE', 'trailers'],
    ['Trailer', 'X-Checksum'],
    ['Proxy-Authorization', 'Basic eDp5'],
    ['Host', 'example.com'],
    ['Content-Length', '2'],
    ['X-Control', 'a\u0001b'],
    ['X-Escape', 'a\u001bb'],
    ['X-Emoji', 'hello 🙂'],
    ['X-City', '東京'],
    ['X-Padded', ' value'],
  ])(
    'that can never be sent (%s: %j) are refused at create, with a 400 naming the header',
    async (name, value) => {
      const answer = await createSubscription({ Authorization: 'Bearer fine', [name]: value });
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.headers.get('content-type')).toContain('application/problem+json');
      expect(answer.body.errors?.map((error) => error.field)).toEqual([`body.headers.${name}`]);
    },
  );

  it('that can never be sent are refused at update too, and the stored headers stay', async () => {
    const created = await createSubscription({ Authorization: 'Bearer fine' });
    expect(created.status).toBe(201);
    const path = `/v1/webhooks/subscriptions/${created.body.id}`;
    for (const headers of [{ 'Keep-Alive': 'timeout=5' }, { 'X-Name': 'Zoë 🙂' }]) {
      const patched = await admin.client.call<Problem>('PATCH', path, {
        token: admin.token,
        body: { headers },
      });
      expect(patched.status).toBe(400);
      expect(patched.body.errors?.map((error) => error.field)).toEqual([
        `body.headers.${Object.keys(headers)[0]}`,
      ]);
    }
    const stored = await admin.client.call<{ headers: Record<string, string> }>('GET', path, {
      token: admin.token,
    });
    expect(stored.body.headers).toEqual({ Authorization: 'Bearer fine' });
  });

  it('that can be sent are kept as given: tokens, inner spaces, Latin-1 text', async () => {
    const headers = {
      Authorization: 'Bearer abc.def',
      'X-Api-Key': 'k_1!#$%&*+',
      'X-Team': 'Café crème\tnoir',
    };
    const created = await createSubscription(headers);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.headers).toEqual(headers);
  });
});

describe('access tokens', () => {
  const forge = (claims: { userId: string; sessionId: string }) =>
    new AccessTokens(TEST_JWT_SECRET, {
      issuer: testConfig.JWT_ISSUER,
      audience: testConfig.JWT_AUDIENCE,
      ttlSeconds: 60,
    }).sign(claims);

  it.each(['not-a-uuid', "' OR '1'='1", '', '0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5g'])(
    'signed with the right key but with the session id %j are refused with 401, never a 500',
    async (sessionId) => {
      const user = await signedUpUser(platform.baseUrl, 'forged-sid');
      const token = await forge({ userId: user.id, sessionId });
      const answer = await user.client.call<Problem>('GET', '/v1/me', { token });
      expect(answer.status).toBe(401);
      expect(answer.body.status).toBe(401);
      expect(answer.headers.get('www-authenticate')).toContain('invalid_token');
    },
  );

  it('signed with the right key for a live session but another, non-UUID subject are refused with 401', async () => {
    const user = await signedUpUser(platform.baseUrl, 'forged-sub');
    const token = await forge({ userId: 'admin', sessionId: user.tokens.session_id });
    const answer = await user.client.call<Problem>('GET', '/v1/me', { token });
    expect(answer.status).toBe(401);
  });
});

describe('token answers', () => {
  it('of login and refresh carry Cache-Control: no-store', async () => {
    const client = apiClient(platform.baseUrl);
    const email = uniqueEmail('no-store');
    await client.call('POST', '/v1/auth/register', { body: { email, password: STRONG_PASSWORD } });
    const login = await client.call<Tokens>('POST', '/v1/auth/login', {
      body: { email, password: STRONG_PASSWORD },
    });
    expect(login.status).toBe(200);
    expect(login.headers.get('cache-control')).toBe('no-store');
    const refreshed = await client.call<Tokens>('POST', '/v1/auth/refresh', {
      body: { refresh_token: login.body.refresh_token },
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get('cache-control')).toBe('no-store');
  });
});

describe('the API reference at /docs', () => {
  const referenceHtml = async () => {
    const response = await fetch(`${platform.baseUrl}/docs`);
    expect(response.status).toBe(200);
    return response.text();
  };
  const scriptUrls = (html: string) =>
    [...html.matchAll(/<script\b[^>]*\bsrc="([^"]*)"/g)].map((m) => m[1] ?? '');

  it('loads nothing from another origin: its script is served by the API itself', async () => {
    const html = await referenceHtml();
    const sources = scriptUrls(html);
    expect(sources).toHaveLength(1);
    for (const url of [...sources, ...[...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1] ?? '')])
      expect(url, url).toMatch(/^\/(?!\/)/);
    expect(html).not.toMatch(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
    // Unless told not to, the reference fetches web fonts, calls its makers' AI agent service and, on
    // localhost, offers to upload the document to their registry.
    expect(html).toContain('"withDefaultFonts": false');
    expect(html).toMatch(/"agent": \{\s*"disabled": true\s*\}/);
    expect(html).toContain('"showDeveloperTools": "never"');
  });

  it('serves that script: JavaScript from the npm package, cacheable for good, gzipped on request', async () => {
    const [source] = scriptUrls(await referenceHtml());
    const bundle = readFileSync(
      createRequire(import.meta.url).resolve('@scalar/api-reference/browser/standalone.js'),
    );
    const plain = await fetch(`${platform.baseUrl}${source}`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(plain.headers.get('cache-control')).toContain('immutable');
    expect(Buffer.from(await plain.arrayBuffer()).equals(bundle)).toBe(true);
    // fetch asks for gzip and unpacks it.
    const zipped = await fetch(`${platform.baseUrl}${source}`);
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(Buffer.from(await zipped.arrayBuffer()).equals(bundle)).toBe(true);
  });
});

describe('error logs', () => {
  /** The auth routes on the platform's dependencies, logging through a capturing logger. */
  async function authApp() {
    const config = loadConfig('api', { ...process.env, JWT_SECRET: TEST_JWT_SECRET, TRUST_PROXY_HOPS: '1' });
    const logs = captureLogs();
    const deps = createDependencies(config, logs.logger, 'api');
    const app = newApp({ logger: logs.logger, bodyLimitBytes: config.BODY_LIMIT_BYTES });
    registerAuthRoutes(app, createAuthDeps(deps));
    const register = (body: Record<string, unknown>) =>
      app.request('/v1/auth/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': randomIp() },
        body: JSON.stringify(body),
      });
    return { deps, logs, register };
  }

  /** Runs `test` while PostgreSQL refuses new rows of `table` that `check` fails (a real failure). */
  async function whileRefused(
    sql: ReturnType<typeof createDependencies>['sql'],
    table: string,
    check: string,
    test: () => Promise<void>,
  ) {
    const constraint = `hardening_refuse_${uniqueSuffix()}`;
    await sql.unsafe(`ALTER TABLE ${table} ADD CONSTRAINT ${constraint} CHECK (${check}) NOT VALID`);
    try {
      await test();
    } finally {
      await sql.unsafe(`ALTER TABLE ${table} DROP CONSTRAINT IF EXISTS ${constraint}`);
    }
    return constraint;
  }

  it('of a registration whose insert fails hold neither the password hash nor the email', async () => {
    const { deps, logs, register } = await authApp();
    try {
      const email = uniqueEmail('log-hash');
      const constraint = await whileRefused(deps.sql, 'users', `email <> '${email}'`, async () => {
        const answer = await register({ email, password: STRONG_PASSWORD, name: 'Hash Holder' });
        expect(answer.status).toBe(500);
      });
      const text = logs.text();
      expect(text).toContain('unhandled error in request');
      expect(text).toContain(constraint);
      expect(text).not.toContain('$argon2id$');
      expect(text).not.toContain(email);
      expect(text).not.toContain('Hash Holder');
    } finally {
      await deps.close();
    }
  });

  it('of a registration whose event fails to be written hold none of the event payload', async () => {
    const { deps, logs, register } = await authApp();
    try {
      const email = uniqueEmail('log-payload');
      const marker = `payload-marker-${uniqueSuffix()}`;
      const constraint = await whileRefused(
        deps.sql,
        'outbox',
        `payload->'data'->>'name' IS DISTINCT FROM '${marker}'`,
        async () => {
          const answer = await register({ email, password: STRONG_PASSWORD, name: marker });
          expect(answer.status).toBe(500);
        },
      );
      const text = logs.text();
      expect(text).toContain(constraint);
      expect(text).not.toContain(marker);
      expect(text).not.toContain(email);
      expect(text).not.toContain('$argon2id$');
    } finally {
      await deps.close();
    }
  });
});
