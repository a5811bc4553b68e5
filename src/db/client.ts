import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema/index.js';

/**
 * Two postgres.js pools on one database: one for drizzle, one for hand-written SQL. drizzle's
 * postgres-js driver rewrites its client's type parsers and serializers (timestamps come back as
 * strings, json parameters are not serialised); the raw pool keeps postgres.js's own behaviour
 * (Date objects, `sql.json`), so code using it can trust its types.
 */
export function createDatabase(options: {
  url: string;
  poolSize: number;
  applicationName: string;
  /** Settings of every session of the raw pool (sent at connection start), e.g. `enable_seqscan`. */
  settings?: Record<string, string>;
}) {
  const connect = (settings: Record<string, string>) =>
    postgres(options.url, {
      max: options.poolSize,
      idle_timeout: 30,
      connect_timeout: 5,
      connection: { application_name: options.applicationName, ...settings },
      onnotice: () => {},
    });
  const sql = connect(options.settings ?? {});
  const drizzleClient = connect({});
  const db = drizzle(drizzleClient, { schema, casing: 'snake_case' });
  const end = async (opts?: { timeout?: number }) => {
    await Promise.all([sql.end(opts), drizzleClient.end(opts)]);
  };
  return { sql, db, end };
}

export type Database = ReturnType<typeof createDatabase>['db'];
export type Sql = ReturnType<typeof createDatabase>['sql'];
/** The transaction handle drizzle passes to `db.transaction(tx => ...)`. */
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];
