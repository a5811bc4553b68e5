import { afterAll, describe, expect, it } from 'vitest';
import { getReplay, REPLAY_BATCH, runReplayBatch, startReplay } from '../../src/webhooks/replays/replays.js';
import { createSubscription } from '../../src/webhooks/subscriptions/create.js';
import { deleteSubscription } from '../../src/webhooks/subscriptions/delete.js';
import { insertTestDelivery } from '../helpers/deliveries.js';
import { serviceDeps } from '../helpers/service.js';

// Bulk replays called as the API and the console call them: on the real PostgreSQL and Redis, a queue
// of this file's own, a subscription no fan-out delivers to (disabled), all removed at the end.

const { run, deps, database, close } = serviceDeps('replays');
let subscriptionId = '';
/** Who starts this file's replays (they are removed by it at the end). */
const actor = { type: 'system' as const, id: `test-${run}` };

afterAll(async () => {
  if (subscriptionId) await deleteSubscription(deps, subscriptionId).catch(() => {});
  await database.sql`DELETE FROM webhook_replays WHERE created_by = ${`system:${actor.id}`}`;
  await close();
});

describe('bulk replay', () => {
  it('counts first, goes a batch at a time, resumes from its cursor, and sends each dead delivery once however often it is started', async () => {
    const created = await createSubscription(deps, {
      url: `https://${run}.example.com/hooks`,
      event_types: ['user.*'],
      enabled: false,
    });
    subscriptionId = created.subscription.id;
    const total = REPLAY_BATCH + 100;
    for (let i = 0; i < total; i += 50) {
      await Promise.all(Array.from({ length: 50 }, () => insertTestDelivery(database.sql, subscriptionId)));
    }
    await database.sql`
      UPDATE webhook_deliveries SET status = 'dead', attempts = 3, updated_at = now() - interval '1 minute'
      WHERE subscription_id = ${subscriptionId}`;
    const filter = { subscription_id: subscriptionId, status: 'dead' as const };

    const counted = await startReplay(deps, { filter, dry_run: true }, actor);
    expect(counted).toEqual({ dryRun: true, count: total });
    const started = await startReplay(deps, { filter }, actor);
    if (started.dryRun) throw new Error('a replay, not a dry run, was asked for');
    expect(started.created).toBe(true);
    expect(started.replay.total).toBe(total);
    // Started again while it runs: the same replay.
    const again = await startReplay(deps, { filter }, actor);
    expect(again).toMatchObject({ dryRun: false, created: false, replay: { id: started.replay.id } });

    // One batch, then the process "restarts": the next batch (any of the platform's processes) goes
    // on from the cursor the first one committed. (Only this queue's processes run its replays.)
    expect(await runReplayBatch(deps)).toBe(true);
    expect(await getReplay(deps, started.replay.id)).toMatchObject({
      state: 'running',
      requeued: REPLAY_BATCH,
    });
    expect(await runReplayBatch(deps)).toBe(true);
    expect(await getReplay(deps, started.replay.id)).toMatchObject({ state: 'done', requeued: total });
    expect(await runReplayBatch(deps)).toBe(false);

    const rows = await database.sql<{ generation: number; status: string; n: number }[]>`
      SELECT generation, status, count(*)::int AS n FROM webhook_deliveries
      WHERE subscription_id = ${subscriptionId} GROUP BY 1, 2`;
    expect(rows).toEqual([{ generation: 1, status: 'pending', n: total }]);

    // Started once more with the same filter: none is dead any more, so none is sent again.
    const after = await startReplay(deps, { filter }, actor);
    if (after.dryRun) throw new Error('a replay, not a dry run, was asked for');
    expect(after.replay.total).toBe(0);
    expect(await runReplayBatch(deps)).toBe(true);
    expect(await getReplay(deps, after.replay.id)).toMatchObject({ state: 'done', requeued: 0 });
    const [still] = await database.sql<{ max: number }[]>`
      SELECT max(generation)::int AS max FROM webhook_deliveries WHERE subscription_id = ${subscriptionId}`;
    expect(still?.max).toBe(1);
  }, 60_000);
});
