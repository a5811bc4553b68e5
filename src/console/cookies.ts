import { createHmac, timingSafeEqual } from 'node:crypto';

/** Who a console cookie stands for: an admin's session, or an API key with `webhooks:manage`. */
export type ConsoleIdentity =
  | { kind: 'session'; sessionId: string; userId: string }
  | { kind: 'key'; keyId: string };

export const CONSOLE_COOKIE = 'hookline_console';

/**
 * The console's cookie and CSRF tokens, both HMACs under one key. The cookie names a session (or an
 * API key) and proves the server issued it; it grants nothing by itself: every request checks the
 * session's state (revoked, expired, role) or the key (revoked, scopes), as the API does.
 * The CSRF token is an HMAC of the cookie's value: a page's forms carry it, and a state change without
 * the token of the caller's own cookie is refused (SameSite=Strict besides).
 */
export class ConsoleCookies {
  constructor(private readonly secret: string) {}

  private mac(purpose: string, value: string): string {
    return createHmac('sha256', this.secret).update(`${purpose}\u0000${value}`).digest('base64url');
  }

  issue(identity: ConsoleIdentity): string {
    const value =
      identity.kind === 'session' ? `s.${identity.sessionId}.${identity.userId}` : `k.${identity.keyId}`;
    return `${value}.${this.mac('cookie', value)}`;
  }

  /** The identity of a cookie this server issued, or null (absent, altered, or malformed). */
  read(cookie: string | undefined): ConsoleIdentity | null {
    if (!cookie) return null;
    const cut = cookie.lastIndexOf('.');
    const value = cookie.slice(0, cut);
    if (cut < 0 || !same(cookie.slice(cut + 1), this.mac('cookie', value))) return null;
    const [kind, a, b] = value.split('.');
    if (kind === 's' && a && b) return { kind: 'session', sessionId: a, userId: b };
    if (kind === 'k' && a) return { kind: 'key', keyId: a };
    return null;
  }

  csrfToken(cookie: string): string {
    return this.mac('csrf', cookie);
  }

  checkCsrf(cookie: string, token: string | undefined): boolean {
    return typeof token === 'string' && same(token, this.csrfToken(cookie));
  }
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
