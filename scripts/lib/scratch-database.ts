// A database of its own on the shared server, for what must not touch the shared one (the scale
// bench's 10 million rows, tests of migrations, retention dropping whole partitions, a relay that
// would publish every pending outbox row it finds): created, then dropped whoever is still connected.
import { createDatabase, type Sql } from '../../src/db/client.js';

export type Scratch = ReturnType<typeof createDatabase> & { name: string; url: string };

/** The URL of database `name` on the server of `url`. */
function urlOf(url: string, name: string): string {
  const other = new URL(url);
  other.pathname = `/${name}`;
  return other.toString();
}

/** A database name for `label` and a run (`hookline_<label>_<run>`, lower case, safe in SQL). */
export const scratchName = (label: string, run: string) =>
  `hookline_${label}_${run}`.replace(/[^a-z0-9_]/gi, '_').toLowerCase();

/** Creates the database `name` (through `admin`, a session on another database of the server). */
export async function createScratch(
  admin: Sql,
  baseUrl: string,
  name: string,
  options: { poolSize: number; applicationName: string },
): Promise<Scratch> {
  if (!/^hookline_[a-z0-9_]+$/.test(name)) throw new Error(`unexpected database name ${name}`);
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = urlOf(baseUrl, name);
  return { ...createDatabase({ url, ...options }), name, url };
}

/** Drops the database, whoever is still connected to it. */
export async function dropScratch(admin: Sql, name: string): Promise<void> {
  await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
