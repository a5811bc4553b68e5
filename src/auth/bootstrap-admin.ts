import { eq, sql } from 'drizzle-orm';
import type { Transaction } from '../db/client.js';
import { users } from '../db/schema/index.js';
import type { Envelope } from '../events/catalog.js';
import { buildEvent, systemActor, systemMeta } from '../events/envelope.js';
import { enqueueEvents } from '../events/outbox.js';
import type { Component } from '../platform/component.js';
import type { AuthDeps } from './context.js';
import { normaliseEmail } from './model.js';
import { passwordProblem } from './passwords.js';
import { register } from './register.js';
import { afterRevoke, revokeSessions } from './sessions.js';

/** Any fixed number shared by every process: serialises bootstraps that start together. */
const BOOTSTRAP_LOCK_ID = 7_245_003;

/**
 * The first admin, from ADMIN_EMAIL and ADMIN_PASSWORD: created if missing. If an account with that
 * email exists but is not an admin, or has another password, it is made admin with that password and
 * **every one of its sessions is revoked** — whoever registered the address before the operator set it
 * must not keep a session that becomes an admin's. Each change is an event with the system as actor.
 */
export async function bootstrapAdmin(deps: AuthDeps, email: string, password: string): Promise<void> {
  const problem = passwordProblem(password);
  if (problem) throw new Error(`ADMIN_PASSWORD ${problem}`);
  const normalised = normaliseEmail(email);
  const hash = await deps.hasher.hash(password);

  const outcome = await deps.db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK_ID})`);
    const [existing] = await tx.select().from(users).where(eq(users.email, normalised)).for('update');
    if (!existing) return { kind: 'create' as const };
    const passwordMatches = await deps.hasher.verify(existing.passwordHash, password);
    if (existing.role === 'admin' && passwordMatches) return { kind: 'unchanged' as const };
    return promote(tx, existing, { hash, passwordMatches });
  });

  if (outcome.kind === 'create') {
    // Another process created it a moment ago: check it again.
    if (!(await createAdmin(deps, normalised, password))) return bootstrapAdmin(deps, email, password);
  } else if (outcome.kind === 'updated') {
    await afterRevoke(deps, outcome.revoked, 'revoked_by_admin');
    const message = outcome.wasAdmin
      ? 'reset the first admin’s password from ADMIN_PASSWORD; its sessions were revoked'
      : 'an existing non-admin account has ADMIN_EMAIL: made it admin with ADMIN_PASSWORD and revoked its sessions';
    deps.logger.warn({ email: normalised, revokedSessions: outcome.revoked.length }, message);
  }
}

/** Makes an existing account admin with ADMIN_PASSWORD and revokes all its sessions, in `tx`. */
async function promote(
  tx: Transaction,
  existing: typeof users.$inferSelect,
  change: { hash: string; passwordMatches: boolean },
) {
  const now = new Date();
  await tx
    .update(users)
    .set({
      role: 'admin',
      updatedAt: now,
      ...(change.passwordMatches ? {} : { passwordHash: change.hash, passwordChangedAt: now }),
    })
    .where(eq(users.id, existing.id));
  const revoked = await revokeSessions(tx, {
    userId: existing.id,
    reason: 'revoked_by_admin',
    actor: systemActor,
    meta: systemMeta,
  });
  await enqueueEvents(tx, promotionEvents(existing, change.passwordMatches, revoked.length));
  return { kind: 'updated' as const, revoked, wasAdmin: existing.role === 'admin' };
}

/** One event per change, with the system as actor: the role, the password. */
function promotionEvents(
  existing: typeof users.$inferSelect,
  passwordMatches: boolean,
  revokedSessions: number,
): Envelope[] {
  const events: Envelope[] = [];
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
  if (!passwordMatches) {
    events.push(
      buildEvent({
        type: 'user.password.changed',
        userId: existing.id,
        actor: systemActor,
        meta: systemMeta,
        data: { revoked_sessions: revokedSessions },
      }),
    );
  }
  return events;
}

/** Registers the first admin; false when another process registered the address first (a conflict). */
async function createAdmin(deps: AuthDeps, email: string, password: string): Promise<boolean> {
  try {
    await register(
      deps,
      { email, password, name: 'Administrator', role: 'admin', actor: systemActor },
      systemMeta,
    );
    deps.logger.info({ email }, 'created the first admin');
    return true;
  } catch (error) {
    if ((error as { code?: string }).code !== 'conflict') throw error;
    return false;
  }
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
