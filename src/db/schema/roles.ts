import { pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Roles are data, not an enum, so that more can be added without a migration of the code.
 * `user` and `admin` are seeded by the first migration.
 */
export const roles = pgTable('roles', {
  name: text('name').primaryKey(),
  description: text('description').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});
