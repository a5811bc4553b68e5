// A database migrated up to a given migration, not past it: the committed migrations before that one
// in a folder of their own (a copy of drizzle/ with a truncated meta/_journal.json), for the tests and
// the scale bench, which migrate a scratch database to the state a migration meets, then fully.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import type { Database } from '../../src/db/client.js';
import { migrationsFolder } from '../../src/db/migrate.js';

/** The committed migrations up to (not including) `tag`, in a new temporary folder (the caller removes it). */
function migrationsBefore(tag: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'hookline-migrations-'));
  cpSync(migrationsFolder, folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
  const at = journal.entries.findIndex((entry) => entry.tag === tag);
  if (at < 0) throw new Error(`no migration ${tag} in ${migrationsFolder}`);
  writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, at) }));
  return folder;
}

/** Applies the committed migrations up to (not including) `tag` to `db`. */
export async function migrateBefore(db: Database, tag: string): Promise<void> {
  const folder = migrationsBefore(tag);
  try {
    await migrate(db, { migrationsFolder: folder });
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
