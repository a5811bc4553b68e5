import { fileURLToPath } from 'node:url';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import type { Logger } from '../logger.js';
import type { Database, Sql } from './client.js';
import { withSessionLock } from './session-lock.js';

export const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Any fixed number shared by every hookline process: the advisory lock that serialises migrations. */
const MIGRATION_LOCK_ID = 7_245_001;

/**
 * Applies the committed migrations in `drizzle/`. Several processes may start at once: a session-level
 * advisory lock lets one migrate while the others wait, then find nothing left to do.
 */
export async function migrateDatabase(db: Database, sql: Sql, logger: Logger): Promise<void> {
  await withSessionLock(sql, MIGRATION_LOCK_ID, { wait: true }, async () => {
    const started = performance.now();
    await migrate(db, { migrationsFolder });
    logger.info({ durationMs: Math.round(performance.now() - started) }, 'database migrations applied');
  });
}
