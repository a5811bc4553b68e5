import { getTableColumns, type Table } from 'drizzle-orm';
import type { Sql } from './client.js';

/**
 * A table's columns for a raw SELECT or RETURNING, each named after its property in the drizzle table
 * (`event_types AS "eventTypes"`): a raw row then has the shape of `typeof table.$inferSelect`, so the
 * table declares a record once and a renamed column is a type error wherever its property is used.
 * The list is made once, where the table's columns are first asked for; `sql` gives the fragment.
 */
export function columnsOf(table: Table): (sql: Sql) => ReturnType<Sql['unsafe']> {
  const list = Object.entries(getTableColumns(table))
    .map(([property, column]) =>
      column.name === property ? `"${property}"` : `"${column.name}" AS "${property}"`,
    )
    .join(', ');
  return (sql) => sql.unsafe(list);
}
