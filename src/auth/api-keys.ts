import { randomBytes } from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import type { Database } from '../db/client.js';
import { type ApiKey, apiKeys } from '../db/schema/index.js';
import { AppError } from '../errors.js';
import { hashToken } from './tokens.js';

/** The scopes an API key can hold; each allows one family of endpoints and nothing else. */
export const apiKeyScopes = ['webhooks:manage', 'audit:read'] as const;
export type ApiKeyScope = (typeof apiKeyScopes)[number];

export const API_KEY_PREFIX = 'hlk_';

function publicApiKey(row: ApiKey) {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    created_at: row.createdAt.toISOString(),
    last_used_at: row.lastUsedAt?.toISOString() ?? null,
  };
}

export async function createApiKey(
  db: Database,
  input: { name: string; scopes: ApiKeyScope[]; createdBy: string },
) {
  const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  const [row] = await db
    .insert(apiKeys)
    .values({
      id: uuidv7(),
      name: input.name,
      prefix: key.slice(0, 12),
      keyHash: hashToken(key),
      scopes: [...new Set(input.scopes)],
      createdBy: input.createdBy,
    })
    .returning();
  if (!row) throw new Error('insert returned no row');
  return { ...publicApiKey(row), key };
}

export async function listApiKeys(db: Database) {
  const rows = await db.select().from(apiKeys).where(isNull(apiKeys.revokedAt)).orderBy(desc(apiKeys.id));
  return rows.map(publicApiKey);
}

export async function getApiKey(db: Database, id: string) {
  const row = await findApiKeyById(db, id);
  if (!row) throw new AppError('not_found', 'No such API key.');
  return publicApiKey(row);
}

/** Revokes a key: it is refused from the next call on. */
export async function deleteApiKey(db: Database, id: string): Promise<void> {
  const revoked = await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  if (revoked.length === 0) throw new AppError('not_found', 'No such API key.');
}

/** The live key with this secret, if any (one indexed lookup by hash). */
export async function findApiKey(db: Database, key: string): Promise<ApiKey | undefined> {
  const [row] = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, hashToken(key)), isNull(apiKeys.revokedAt)));
  return row;
}

/** The live key with this id, if any (the console's cookie names a key by its id, not its secret). */
export async function findApiKeyById(db: Database, id: string): Promise<ApiKey | undefined> {
  const [row] = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)));
  return row;
}

export async function touchApiKey(db: Database, id: string): Promise<void> {
  await db.update(apiKeys).set({ lastUsedAt: new Date() }).where(eq(apiKeys.id, id));
}
