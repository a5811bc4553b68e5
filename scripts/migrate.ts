// Applies the committed migrations in drizzle/ to DATABASE_URL: `npm run db:migrate`.
import { loadConfig } from '../src/config/load.js';
import { createDatabase } from '../src/db/client.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { createLogger } from '../src/logger.js';

const config = loadConfig('all', process.env);
const logger = createLogger({ level: config.LOG_LEVEL, process: 'migrate' });
const { db, sql, end } = createDatabase({
  url: config.DATABASE_URL,
  poolSize: 2,
  applicationName: 'hookline-migrate',
});
try {
  await migrateDatabase(db, sql, logger);
} finally {
  await end({ timeout: 5 });
}
