import type { Sql } from './client.js';

/**
 * Runs `work` while a connection of its own holds the session-level advisory lock `id` (numbers shared
 * by every hookline process name what they serialise). With `wait`, it waits for the lock; without, it
 * returns null at once when another session holds it. `work` gets that connection (a lock held for the
 * connection's session, which the pool would otherwise hand to another caller between statements).
 */
export async function withSessionLock<T>(
  sql: Sql,
  id: number,
  options: { wait: boolean },
  work: (session: Sql) => Promise<T>,
): Promise<T | null> {
  const session = await sql.reserve();
  try {
    if (options.wait) await session`SELECT pg_advisory_lock(${id})`;
    else {
      const [lock] = await session<{ locked: boolean }[]>`SELECT pg_try_advisory_lock(${id}) AS locked`;
      if (!lock?.locked) return null;
    }
    try {
      return await work(session as unknown as Sql);
    } finally {
      await session`SELECT pg_advisory_unlock(${id})`.catch(() => {});
    }
  } finally {
    session.release();
  }
}
