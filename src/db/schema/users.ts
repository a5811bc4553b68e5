import { pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { roles } from './roles.js';

export const users = pgTable(
  'users',
  {
    /** UUIDv7: time-ordered, so the newest-first listing pages by id. */
    id: uuid('id').primaryKey(),
    /** Trimmed and lower-cased before it is stored; unique. */
    email: text('email').notNull(),
    name: text('name'),
    locale: text('locale'),
    timezone: text('timezone'),
    role: text('role')
      .notNull()
      .default('user')
      .references(() => roles.name, { onUpdate: 'cascade' }),
    passwordHash: text('password_hash').notNull(),
    passwordChangedAt: timestamp('password_changed_at', { withTimezone: true }).notNull().defaultNow(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [uniqueIndex('users_email_key').on(table.email)],
);

export type User = typeof users.$inferSelect;
