import { createHash, randomBytes } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { validate as isUuid } from 'uuid';

export interface AccessClaims {
  userId: string;
  sessionId: string;
}

/**
 * Short-lived access tokens: HS256 JWTs carrying the user (`sub`) and the session (`sid`). Verification
 * accepts only HS256 and checks `exp`, `iss` and `aud`, and that `sub` and `sid` are UUIDs (a token
 * signed with the right key but other claims is refused here, never looked up); the session's state
 * is checked separately on every request, so revocation does not wait for `exp`.
 */
export class AccessTokens {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly options: { issuer: string; audience: string; ttlSeconds: number },
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  get ttlSeconds(): number {
    return this.options.ttlSeconds;
  }

  async sign(claims: AccessClaims): Promise<string> {
    return new SignJWT({ sid: claims.sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.userId)
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setIssuedAt()
      .setExpirationTime(`${this.options.ttlSeconds}s`)
      .setJti(randomBytes(12).toString('base64url'))
      .sign(this.key);
  }

  /** The claims of a valid token, or the reason it is refused. */
  async verify(token: string): Promise<{ ok: true; claims: AccessClaims } | { ok: false; reason: string }> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: this.options.issuer,
        audience: this.options.audience,
        requiredClaims: ['exp', 'sub', 'sid'],
      });
      if (
        typeof payload.sub !== 'string' ||
        typeof payload.sid !== 'string' ||
        !isUuid(payload.sub) ||
        !isUuid(payload.sid)
      ) {
        return { ok: false, reason: 'malformed token claims' };
      }
      return { ok: true, claims: { userId: payload.sub, sessionId: payload.sid } };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) return { ok: false, reason: 'token expired' };
      return { ok: false, reason: 'invalid token' };
    }
  }
}

/** A refresh token: 256 random bits, shown to the client once, stored only as its SHA-256 hash. */
export function newRefreshToken(): { token: string; hash: string } {
  const token = `hlr_${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashToken(token) };
}

/**
 * How refresh tokens and API keys are stored: SHA-256, not argon2, since each is 256 random bits
 * (nothing to guess) and is checked on every use.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
