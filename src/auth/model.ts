import type { Session, User } from '../db/schema/index.js';

export const normaliseEmail = (email: string) => email.trim().toLowerCase();

/** The public shape of a user: never the password hash. */
export function publicUser(user: User) {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    locale: user.locale,
    timezone: user.timezone,
    role: user.role,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
  };
}
export type PublicUser = ReturnType<typeof publicUser>;

export function publicSession(session: Session, currentSessionId?: string) {
  return {
    id: session.id,
    ip: session.ip,
    user_agent: session.userAgent,
    created_at: session.createdAt.toISOString(),
    last_used_at: session.lastUsedAt.toISOString(),
    expires_at: session.expiresAt.toISOString(),
    current: session.id === currentSessionId,
  };
}
export type PublicSession = ReturnType<typeof publicSession>;
