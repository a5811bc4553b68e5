import type { Context, Hono } from 'hono';
import { actorOf } from '../http/middleware/auth.js';
import type { WebhookDeps } from '../webhooks/context.js';
import { listReplays, startReplay } from '../webhooks/replays/replays.js';
import type { ConsoleEnv } from './auth.js';
import { backTo, formText, instantOf } from './forms.js';
import { ReplaysPage } from './pages/replays.js';
import { errorsByField } from './webhooks.js';

const filterFields = ['subscription_id', 'event_type', 'status', 'user_id', 'from', 'to'] as const;

/** The form's filter as the API's (empty fields left out; dates as UTC instants). */
function filterOf(values: Record<string, string>): Record<string, string> {
  const filter: Record<string, string> = {};
  for (const name of filterFields) {
    const value = values[name];
    if (!value) continue;
    filter[name] = name === 'from' || name === 'to' ? (instantOf(value) ?? value) : value;
  }
  return filter;
}

async function page(
  c: Context<ConsoleEnv>,
  hooks: WebhookDeps,
  props: Omit<Parameters<typeof ReplaysPage>[0], 'ctx' | 'replays'>,
) {
  return <ReplaysPage ctx={c.get('page')} replays={await listReplays(hooks, 20)} {...props} />;
}

/**
 * Bulk replay: the filter is counted first (dry run), then the replay of that filter is started (the
 * same verb as `POST /v1/webhooks/replays`), and its progress is shown live.
 */
export function registerReplayPages(web: Hono<ConsoleEnv>, hooks: WebhookDeps): void {
  web.get('/replays', async (c) =>
    c.html(
      await page(c, hooks, {
        form: { values: { status: 'dead' }, errors: {} },
        notice: c.req.query('notice'),
      }),
    ),
  );
  web.post('/replays/dry-run', async (c) => {
    const values = formText(await c.req.parseBody());
    const filter = filterOf(values);
    try {
      const counted = await startReplay(
        hooks,
        { filter: filter as never, dry_run: true },
        actorOf(c.get('caller')),
      );
      const count = counted.dryRun ? counted.count : 0;
      return c.html(await page(c, hooks, { form: { values, errors: {} }, dryRun: { count, filter } }));
    } catch (error) {
      const errors = errorsByField(error, 'filter.');
      if (!errors) throw error;
      const props = { form: { values, errors }, error: 'Fix the fields marked below.' };
      return c.html(await page(c, hooks, props), 400);
    }
  });
  web.post('/replays', async (c) => {
    const values = formText(await c.req.parseBody());
    const started = await startReplay(
      hooks,
      { filter: filterOf(values) as never, dry_run: false },
      actorOf(c.get('caller')),
    );
    const notice = started.dryRun
      ? ''
      : started.created
        ? `Replay of ${started.replay.total} deliveries started.`
        : 'A replay with this filter is already running: its progress is below.';
    return backTo(c, '/replays', notice);
  });
}
