import { eq } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { users } from '../db/schema/index.js';
import { AppError } from '../errors.js';
import type { Actor } from '../events/catalog.js';
import { buildEvent, type RequestMeta } from '../events/envelope.js';
import { enqueueEvents } from '../events/outbox.js';
import type { AuthDeps } from './context.js';
import { countPerIp } from './login-limiter.js';
import { normaliseEmail, type PublicUser, publicUser } from './model.js';
import { passwordProblem } from './passwords.js';

const UNIQUE_VIOLATION = '23505';

/** Registers a user; the row and its `user.registered` event commit together. 409 for a taken email. */
export async function register(
  deps: AuthDeps,
  input: { email: string; password: string; name?: string | null | undefined; role?: string; actor?: Actor },
  meta: RequestMeta,
): Promise<PublicUser> {
  const email = normaliseEmail(input.email);
  if (!input.actor) {
    const allowed = await countPerIp(deps.redis, {
      scope: 'register',
      ip: meta.ip,
      max: deps.config.REGISTER_MAX_PER_IP,
      windowSeconds: deps.config.LOGIN_WINDOW_SECONDS,
    });
    if (!allowed.allowed) {
      deps.metrics.rateLimited.inc({ limit: 'register_ip' });
      throw new AppError('rate_limited', 'Too many registrations from this address; try again later.', {
        retryAfterSeconds: allowed.retryAfterSeconds,
      });
    }
  }
  const problem = passwordProblem(input.password);
  if (problem) {
    throw new AppError('validation_failed', `password ${problem}`, {
      fieldErrors: [{ field: 'body.password', message: problem, code: 'weak_password' }],
    });
  }
  const passwordHash = await deps.hasher.hash(input.password);
  const id = uuidv7();
  try {
    const user = await deps.db.transaction(async (tx) => {
      const [created] = await tx
        .insert(users)
        .values({ id, email, name: input.name ?? null, role: input.role ?? 'user', passwordHash })
        .returning();
      if (!created) throw new Error('insert returned no row');
      await enqueueEvents(tx, [
        buildEvent({
          type: 'user.registered',
          userId: id,
          actor: input.actor ?? { type: 'user', id },
          meta,
          data: { email, name: created.name, role: created.role },
        }),
      ]);
      return created;
    });
    deps.metrics.registrations.inc();
    return publicUser(user);
  } catch (error) {
    if ((error as { code?: string }).code === UNIQUE_VIOLATION || causeCode(error) === UNIQUE_VIOLATION) {
      throw new AppError('conflict', 'That email is already registered.', {
        fieldErrors: [{ field: 'body.email', message: 'is already registered', code: 'duplicate' }],
      });
    }
    throw error;
  }
}

function causeCode(error: unknown): string | undefined {
  return (error as { cause?: { code?: string } }).cause?.code;
}

export async function findUserByEmail(deps: AuthDeps, email: string) {
  const [user] = await deps.db
    .select()
    .from(users)
    .where(eq(users.email, normaliseEmail(email)));
  return user;
}
