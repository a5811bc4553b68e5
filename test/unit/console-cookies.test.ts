import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AuthDeps } from '../../src/auth/context.js';
import { servedOverHttps, setConsoleCookie } from '../../src/console/auth.js';
import { ConsoleCookies } from '../../src/console/cookies.js';

const cookies = new ConsoleCookies('unit-test-secret-unit-test-secret');
const session = {
  kind: 'session',
  sessionId: '01939a3e-7c1d-7b2a-9f4e-2d8c5b6a1e0f',
  userId: '01939a3e-7c1d-7b2a-9f4e-2d8c5b6a1e10',
} as const;

describe("the console's cookie", () => {
  it('reads back what it issued, and nothing altered or issued under another key', () => {
    const value = cookies.issue(session);
    expect(cookies.read(value)).toEqual(session);
    expect(cookies.read(cookies.issue({ kind: 'key', keyId: 'k1' }))).toEqual({ kind: 'key', keyId: 'k1' });
    const other = session.userId.replace(/0$/, '1');
    expect(cookies.read(value.replace(session.userId, other))).toBeNull();
    expect(cookies.read(new ConsoleCookies('another-secret-another-secret').issue(session))).toBeNull();
    for (const bad of ['', 'x', '.', 's..', value.slice(0, -1)]) expect(cookies.read(bad)).toBeNull();
  });

  it("accepts only the CSRF token of the caller's own cookie", () => {
    const mine = cookies.issue(session);
    const theirs = cookies.issue({ kind: 'key', keyId: 'k1' });
    expect(cookies.checkCsrf(mine, cookies.csrfToken(mine))).toBe(true);
    expect(cookies.checkCsrf(mine, cookies.csrfToken(theirs))).toBe(false);
    expect(cookies.checkCsrf(mine, undefined)).toBe(false);
    expect(cookies.checkCsrf(mine, '')).toBe(false);
  });

  it('is HttpOnly, SameSite=Strict, for /console only, and Secure when served over https', async () => {
    const app = new Hono();
    const deps = {
      auth: {} as AuthDeps,
      cookies,
      secure: (c: { req: { url: string } }) => servedOverHttps(c.req.url, undefined),
    };
    app.get('/console/sign-in', (c) => {
      setConsoleCookie(c, deps, session);
      return c.body(null, 204);
    });
    const plain = (await app.request('http://127.0.0.1/console/sign-in')).headers.get('set-cookie') ?? '';
    const tls =
      (await app.request('https://console.example.com/console/sign-in')).headers.get('set-cookie') ?? '';
    for (const header of [plain, tls]) {
      expect(header).toMatch(/^hookline_console=s\./);
      expect(header).toContain('HttpOnly');
      expect(header).toContain('SameSite=Strict');
      expect(header).toContain('Path=/console');
    }
    expect(plain).not.toContain('Secure');
    expect(tls).toContain('Secure');
    expect(servedOverHttps('http://127.0.0.1/console', 'https://hooks.example.com')).toBe(true);
  });
});
