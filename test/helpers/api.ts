import { randomInt } from 'node:crypto';
import { uniqueSuffix } from './env.js';

export interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * A random client IP (only ever sent as an X-Forwarded-For header, never dialled), from the IPv6
 * documentation prefix, so tests never share brute-force counters.
 */
const hex = () => randomInt(0x10000).toString(16);
export const randomIp = () => `2001:db8:${hex()}:${hex()}::${hex()}`;

export const uniqueEmail = (label = 'user') => `${label}-${uniqueSuffix()}@example.com`;

export const STRONG_PASSWORD = 'plum-kettle-orbit-97';

/** A small HTTP client for one simulated device: its own IP and user agent, optional bearer token. */
export function apiClient(baseUrl: string, options: { ip?: string; userAgent?: string } = {}) {
  const ip = options.ip ?? randomIp();
  const userAgent = options.userAgent ?? `hookline-tests/${uniqueSuffix()}`;
  const call = async <T = Record<string, unknown>>(
    method: string,
    path: string,
    init: { body?: unknown; token?: string; rawBody?: string; headers?: Record<string, string> } = {},
  ): Promise<Answer<T>> => {
    const headers: Record<string, string> = {
      'x-forwarded-for': ip,
      'user-agent': userAgent,
      ...init.headers,
    };
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    let body: string | undefined;
    if (init.rawBody !== undefined) body = init.rawBody;
    else if (init.body !== undefined) body = JSON.stringify(init.body);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : {}) as T };
  };
  return { ip, userAgent, call };
}

export type ApiClient = ReturnType<typeof apiClient>;

export interface Tokens {
  access_token: string;
  refresh_token: string;
  session_id: string;
  expires_in: number;
  token_type: string;
}

/** Registers a user and signs them in; returns the user, tokens and the client used. */
export async function signedUpUser(baseUrl: string, label = 'user', client = apiClient(baseUrl)) {
  const email = uniqueEmail(label);
  const registered = await client.call<{ id: string; email: string }>('POST', '/v1/auth/register', {
    body: { email, password: STRONG_PASSWORD, name: label },
  });
  if (registered.status !== 201) throw new Error(`register failed: ${JSON.stringify(registered.body)}`);
  const login = await client.call<Tokens>('POST', '/v1/auth/login', {
    body: { email, password: STRONG_PASSWORD },
  });
  if (login.status !== 200) throw new Error(`login failed: ${JSON.stringify(login.body)}`);
  return { id: registered.body.id, email, password: STRONG_PASSWORD, tokens: login.body, client };
}

/** The password of the first admin the tests' platforms bootstrap (ADMIN_EMAIL / ADMIN_PASSWORD). */
export const TEST_ADMIN_PASSWORD = 'admin-pass-for-tests-42';

/** Signs in as that admin; returns the client used and the access token. */
export async function adminSession(baseUrl: string, email: string, client = apiClient(baseUrl)) {
  const login = await client.call<Tokens>('POST', '/v1/auth/login', {
    body: { email, password: TEST_ADMIN_PASSWORD },
  });
  if (login.status !== 200) throw new Error(`admin login failed: ${JSON.stringify(login.body)}`);
  return { client, token: login.body.access_token };
}
