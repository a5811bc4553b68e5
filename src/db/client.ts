import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema/index.js';

export function createDatabase(options: { url: string; poolSize: number; applicationName: string }) {
  const sql = postgres(options.url, {
    max: options.poolSize,
    idle_timeout: 30,
    connect_timeout: 5,
    connection: { application_name: options.applicationName },
    onnotice: () => {},
  });
  const db = drizzle(sql, { schema, casing: 'snake_case' });
  return { sql, db };
}

export type Database = ReturnType<typeof createDatabase>['db'];
export type Sql = ReturnType<typeof createDatabase>['sql'];
/** The transaction handle drizzle passes to `db.transaction(tx => ...)`. */
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];
