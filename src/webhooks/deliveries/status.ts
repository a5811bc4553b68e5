import type { Sql } from '../../db/client.js';
import type { DeliveryStatus } from '../../db/schema/webhooks.js';

/**
 * Statuses written into SQL as literals (`'dead', 'retrying'`), checked against the one list: a
 * literal keeps partial indexes usable (`WHERE status = 'dead'`), and a renamed status is a type error.
 */
export const statusSql = (sql: Sql, ...statuses: DeliveryStatus[]) =>
  sql.unsafe(statuses.map((status) => `'${status}'`).join(', '));
