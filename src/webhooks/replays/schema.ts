import { z } from '@hono/zod-openapi';
import { replayStates, type webhookReplays } from '../../db/schema/webhooks.js';
import { deliveryMatchFields, publicDeliveryStatuses } from '../deliveries/schema.js';

/** A replay as stored: the drizzle table's row. */
export type Replay = typeof webhookReplays.$inferSelect;

/** Which deliveries a replay sends again (every field given narrows them; status defaults to dead). */
export const ReplayFilter = z
  .object({
    subscription_id: deliveryMatchFields.subscription_id,
    event_type: z.string().min(1).max(128).optional(),
    status: z.enum(publicDeliveryStatuses).default('dead'),
    from: deliveryMatchFields.from,
    to: deliveryMatchFields.to,
    user_id: deliveryMatchFields.user_id,
  })
  .strict()
  .openapi('ReplayFilter');
export type ReplayFilter = z.infer<typeof ReplayFilter>;

export const StartReplayInput = z
  .object({
    filter: ReplayFilter,
    dry_run: z
      .boolean()
      .default(false)
      .openapi({ description: 'Count the deliveries the filter matches now; start nothing.' }),
  })
  .strict()
  .openapi('ReplayStart');
export type StartReplayInput = z.input<typeof StartReplayInput>;

export const DryRun = z
  .object({ dry_run: z.literal(true), count: z.number().int() })
  .openapi('ReplayDryRun', {
    description: 'How many deliveries a replay with this filter would send again now.',
  });

export const PublicReplay = z
  .object({
    id: z.uuid(),
    state: z.enum(replayStates),
    filter: ReplayFilter,
    total: z.number().int().openapi({ description: 'The deliveries the filter matched when it started.' }),
    requeued: z.number().int().openapi({ description: 'Sent again so far.' }),
    error: z.string().nullable(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
    finished_at: z.iso.datetime().nullable(),
  })
  .openapi('Replay', {
    description:
      'A bulk replay: a tracked job that queues the matching deliveries again, a batch at a time; it resumes after a restart, started twice with one filter it is one replay, and it sends each delivery at most once.',
  });
export type PublicReplay = z.infer<typeof PublicReplay>;

export function toPublicReplay(row: Replay): PublicReplay {
  return {
    id: row.id,
    state: row.state,
    filter: ReplayFilter.parse(row.filter),
    total: row.total,
    requeued: row.requeued,
    error: row.error,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    finished_at: row.finishedAt?.toISOString() ?? null,
  };
}
