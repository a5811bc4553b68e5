import { v7 as uuidv7 } from 'uuid';
import type { Sql } from '../../db/client.js';
import { columnsOf } from '../../db/columns.js';
import { webhookReplays } from '../../db/schema/webhooks.js';
import { AppError, parseInput } from '../../errors.js';
import type { Actor } from '../../events/catalog.js';
import type { Logger } from '../../logger.js';
import { type Component, periodicComponent } from '../../platform/component.js';
import { matchSql } from '../deliveries/read.js';
import type { RequeueDeps } from '../deliveries/requeue.js';
import { matchOf } from '../deliveries/schema.js';
import { enqueueRequeued, markForRequeue } from '../queue/enqueue.js';
import { type Replay, type ReplayFilter, StartReplayInput } from './schema.js';

const replayColumns = columnsOf(webhookReplays);
/** Deliveries queued again per transaction of a replay. */
export const REPLAY_BATCH = 500;

/** The filter's canonical text (keys sorted, absent ones left out): one running replay per filter. */
const keyOf = (filter: ReplayFilter) =>
  JSON.stringify(Object.fromEntries(Object.entries(filter).sort(([a], [b]) => a.localeCompare(b))));

/** How many deliveries the filter matches now. */
export async function countMatching(sql: Sql, filter: ReplayFilter): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM webhook_deliveries WHERE true ${matchSql(sql, matchOf(filter))}`;
  return row?.n ?? 0;
}

/**
 * Starts a bulk replay (or, with `dry_run`, only counts what it would send). Started again with the
 * same filter while it runs, it answers the running one: the same job, not a second. A replay sends
 * each delivery again at most once, and never one that changed after it started (so not one another
 * replay already took meanwhile): it goes in id order from its cursor, and takes only deliveries last
 * changed before it started. Its jobs go to the delivery queue of the platform that started it.
 */
export async function startReplay(
  deps: { sql: Sql; queue: { name: string } },
  raw: StartReplayInput,
  actor: Actor,
): Promise<{ dryRun: true; count: number } | { dryRun: false; replay: Replay; created: boolean }> {
  const input = parseInput(StartReplayInput, raw);
  const count = await countMatching(deps.sql, input.filter);
  if (input.dry_run) return { dryRun: true, count };
  const sql = deps.sql;
  const [created] = await sql<Replay[]>`
    INSERT INTO webhook_replays (id, filter, filter_key, queue, total, created_by)
    VALUES (${uuidv7()}, ${sql.json(input.filter)}, ${keyOf(input.filter)}, ${deps.queue.name}, ${count}, ${`${actor.type}:${actor.id ?? ''}`})
    ON CONFLICT (queue, filter_key) WHERE state = 'running' DO NOTHING
    RETURNING ${replayColumns(sql)}`;
  if (created) return { dryRun: false, replay: created, created: true };
  const [running] = await sql<Replay[]>`
    SELECT ${replayColumns(sql)} FROM webhook_replays
    WHERE queue = ${deps.queue.name} AND filter_key = ${keyOf(input.filter)} AND state = 'running'`;
  // It finished between the two statements: start it again.
  if (!running) return startReplay(deps, raw, actor);
  return { dryRun: false, replay: running, created: false };
}

export async function getReplay(deps: { sql: Sql }, id: string): Promise<Replay> {
  const [row] = await deps.sql<Replay[]>`
    SELECT ${replayColumns(deps.sql)} FROM webhook_replays WHERE id = ${id}`;
  if (!row) throw new AppError('not_found', 'No such replay.');
  return row;
}

/** The latest replays, newest first. */
export async function listReplays(deps: { sql: Sql }, limit = 50): Promise<Replay[]> {
  return deps.sql<Replay[]>`
    SELECT ${replayColumns(deps.sql)} FROM webhook_replays ORDER BY id DESC LIMIT ${limit}`;
}

/**
 * One batch of one running replay of this platform (its delivery queue's; any of its processes may run
 * it: the row is locked for the batch, and skipped by the others meanwhile): the next deliveries in id order that match and were last changed
 * before the replay started are moved to a new generation, and the replay's cursor and count move in
 * the same transaction; their jobs are queued after the commit (a crash in between leaves them
 * pending and overdue: the delivery sweeper queues them). Returns false when no replay was running.
 */
export async function runReplayBatch(deps: RequeueDeps): Promise<boolean> {
  const requeued = await deps.sql.begin(async (tx) => {
    const sql = tx as unknown as Sql;
    const [replay] = await sql<Replay[]>`
      SELECT ${replayColumns(sql)} FROM webhook_replays WHERE state = 'running' AND queue = ${deps.queue.name}
      ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`;
    if (!replay) return null;
    const match = matchOf(parseInput(StartReplayInput.shape.filter, replay.filter));
    const rows = await markForRequeue(
      sql,
      sql`id > ${replay.cursor ?? '00000000-0000-0000-0000-000000000000'}
        AND updated_at < ${replay.createdAt} ${matchSql(sql, match)}
        ORDER BY id LIMIT ${REPLAY_BATCH}`,
      { resetStatus: true },
    );
    const last =
      rows
        .map((row) => row.id)
        .sort()
        .at(-1) ?? replay.cursor;
    const done = rows.length < REPLAY_BATCH;
    await sql`
      UPDATE webhook_replays SET cursor = ${last}, requeued = requeued + ${rows.length}, updated_at = now(),
        state = ${done ? 'done' : 'running'}, finished_at = ${done ? sql`now()` : null}
      WHERE id = ${replay.id}`;
    return rows;
  });
  if (requeued === null) return false;
  await enqueueRequeued(deps, requeued);
  return true;
}

/** Runs the replays: batch after batch while one is running, looked for every `intervalMs`. */
export function replayComponent(deps: RequeueDeps & { logger: Logger; intervalMs?: number }): Component {
  return periodicComponent({
    name: 'webhook-replays',
    intervalMs: deps.intervalMs ?? 1_000,
    logger: deps.logger,
    failure: 'running a webhook replay failed',
    task: async () => {
      while (await runReplayBatch(deps)) {}
    },
  });
}
