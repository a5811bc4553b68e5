import type { Sql } from '../../db/client.js';
import type { SecretBox } from './secret-box.js';
import { notifySubscriptionsChanged } from './subscription-index.js';

/**
 * Seals every stored signing secret (current and previous) with the first key of
 * WEBHOOK_SECRETS_KEYS where it is in plain text or under an older key (`npm run
 * webhooks:reseal-secrets`); a previous secret whose overlap has ended is dropped, not resealed. Each
 * row is written only if unchanged since it was read; a row that changed meanwhile (a rotation) is
 * read again, so when this returns no row is left under an older key but the unreadable ones:
 * secrets under a key that is not listed, which are reported, not touched. `ids` limits it to those
 * subscriptions.
 */
export async function resealSecrets(
  deps: { sql: Sql; secrets: SecretBox },
  options: { ids?: readonly string[] } = {},
): Promise<{ resealed: number; unreadable: string[] }> {
  if (!deps.secrets.encrypts) return { resealed: 0, unreadable: [] };
  if (options.ids && options.ids.length === 0) return { resealed: 0, unreadable: [] };
  const box = deps.secrets;
  let resealed = 0;
  for (let pass = 0; ; pass++) {
    const rows = await deps.sql<
      { id: string; secret: string; previous_secret: string | null; previous_expired: boolean }[]
    >`
      SELECT id, secret, previous_secret,
        COALESCE(previous_secret_expires_at <= now(), false) AS previous_expired
      FROM webhook_subscriptions
      ${options.ids ? deps.sql`WHERE id IN ${deps.sql(options.ids as string[])}` : deps.sql``}
      ORDER BY id`;
    const unreadable: string[] = [];
    let conflicts = 0;
    for (const row of rows) {
      const dropPrevious = row.previous_secret !== null && row.previous_expired;
      const previousStale =
        row.previous_secret !== null && !dropPrevious && box.needsReseal(row.previous_secret);
      if (!box.needsReseal(row.secret) && !previousStale && !dropPrevious) continue;
      let secret: string;
      let previous: string | null;
      try {
        secret = box.needsReseal(row.secret) ? box.seal(box.open(row.secret, row.id), row.id) : row.secret;
        previous =
          dropPrevious || row.previous_secret === null
            ? null
            : previousStale
              ? box.seal(box.open(row.previous_secret, row.id), row.id)
              : row.previous_secret;
      } catch {
        unreadable.push(row.id);
        continue;
      }
      const result = await deps.sql`
        UPDATE webhook_subscriptions SET secret = ${secret}, previous_secret = ${previous},
          previous_secret_expires_at = CASE WHEN ${previous}::text IS NULL THEN NULL ELSE previous_secret_expires_at END
        WHERE id = ${row.id} AND secret = ${row.secret}
          AND previous_secret IS NOT DISTINCT FROM ${row.previous_secret}`;
      resealed += result.count;
      if (result.count === 0) conflicts += 1;
    }
    if (conflicts === 0 || pass >= 10) {
      if (resealed > 0) await notifySubscriptionsChanged(deps.sql);
      if (conflicts > 0)
        throw new Error(`${conflicts} subscription(s) kept changing while being resealed; run it again`);
      return { resealed, unreadable };
    }
  }
}
