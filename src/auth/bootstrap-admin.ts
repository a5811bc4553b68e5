import { eq } from 'drizzle-orm';
import { users } from '../db/schema/index.js';
import { buildEvent, systemActor, systemMeta } from '../events/envelope.js';
import { enqueueEvents } from '../events/outbox.js';
import type { Component } from '../platform/component.js';
import type { AuthDeps } from './context.js';
import { normaliseEmail } from './model.js';
import { register } from './register.js';

/**
 * The first admin, from ADMIN_EMAIL and ADMIN_PASSWORD: created if missing; otherwise made admin and
 * given that password if it differs. Each change is an event with the system as actor. Safe when
 * several processes start at once (a concurrent creation is a harmless conflict).
 */
export async function bootstrapAdmin(deps: AuthDeps, email: string, password: string): Promise<void> {
  const normalised = normaliseEmail(email);
  const [existing] = await deps.db.select().from(users).where(eq(users.email, normalised));
  if (!existing) {
    try {
      await register(
        deps,
        { email: normalised, password, name: 'Administrator', role: 'admin', actor: systemActor },
        systemMeta,
      );
      deps.logger.info({ email: normalised }, 'created the first admin');
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'conflict') throw error;
      return bootstrapAdmin(deps, email, password);
    }
  }
  const passwordMatches = await deps.hasher.verify(existing.passwordHash, password);
  const passwordHash = passwordMatches ? undefined : await deps.hasher.hash(password);
  if (existing.role === 'admin' && passwordMatches) return;
  await deps.db.transaction(async (tx) => {
    const now = new Date();
    await tx
      .update(users)
      .set({
        role: 'admin',
        updatedAt: now,
        ...(passwordHash ? { passwordHash, passwordChangedAt: now } : {}),
      })
      .where(eq(users.id, existing.id));
    const events = [];
    if (existing.role !== 'admin') {
      events.push(
        buildEvent({
          type: 'user.role.changed',
          userId: existing.id,
          actor: systemActor,
          meta: systemMeta,
          data: { from: existing.role, to: 'admin', by: systemActor },
        }),
      );
    }
    if (passwordHash) {
      events.push(
        buildEvent({
          type: 'user.password.changed',
          userId: existing.id,
          actor: systemActor,
          meta: systemMeta,
          data: { revoked_sessions: 0 },
        }),
      );
    }
    await enqueueEvents(tx, events);
  });
  await deps.sessionStates.refreshUser(existing.id);
  deps.logger.info({ email: normalised }, 'updated the first admin from ADMIN_EMAIL/ADMIN_PASSWORD');
}

/** Runs the bootstrap at process start, when both variables are set. */
export function adminBootstrapComponent(deps: AuthDeps): Component {
  return {
    name: 'admin-bootstrap',
    start: async () => {
      const { ADMIN_EMAIL, ADMIN_PASSWORD } = deps.config;
      if (ADMIN_EMAIL && ADMIN_PASSWORD) await bootstrapAdmin(deps, ADMIN_EMAIL, ADMIN_PASSWORD);
    },
    stop: async () => {},
  };
}
