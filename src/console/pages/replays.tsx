import type { Replay } from '../../webhooks/replays/schema.js';
import { Csrf, Notice, Page, type PageContext, Table, when } from '../layout.js';
import { DeliveryFilterFields } from './deliveries.js';

/** The replay filter's form fields, as text, with each field's error. */
export interface ReplayForm {
  values: Record<string, string>;
  errors: Record<string, string>;
}

/**
 * Bulk replay in two steps: the filter is counted first (a dry run), and the count is shown with a
 * button that starts the replay of that same filter.
 */
export function ReplaysPage(props: {
  ctx: PageContext;
  form: ReplayForm;
  replays: Replay[];
  dryRun?: { count: number; filter: Record<string, string> };
  notice?: string;
  error?: string;
}) {
  const { ctx } = props;
  return (
    <Page title="Replays" path="/console/replays" ctx={ctx}>
      <Notice text={props.notice} />
      <Notice text={props.error} kind="error" />
      <section class="card" aria-labelledby="new-replay">
        <h2 id="new-replay">Replay deliveries by filter</h2>
        <form method="post" action="/console/replays/dry-run" class="search" novalidate>
          <Csrf ctx={ctx} />
          <DeliveryFilterFields values={props.form.values} errors={props.form.errors} anyStatus={false} />
          <button type="submit">Count matching deliveries</button>
        </form>
        {props.dryRun && (
          <form method="post" action="/console/replays" class="confirm">
            <Csrf ctx={ctx} />
            {Object.entries(props.dryRun.filter).map(([name, value]) => (
              <input type="hidden" name={name} value={value} />
            ))}
            <p role="status" id="dry-run-count">
              {`${props.dryRun.count} deliveries match this filter now.`}
            </p>
            <button type="submit" disabled={props.dryRun.count === 0}>
              {`Replay ${props.dryRun.count} deliveries`}
            </button>
          </form>
        )}
      </section>
      <ReplayList replays={props.replays} />
    </Page>
  );
}

/** The latest replays with their progress (refreshed live). */
function ReplayList(props: { replays: Replay[] }) {
  return (
    <section class="card" aria-labelledby="replays">
      <h2 id="replays">Replays</h2>
      <div id="replay-list" data-refresh="replay-list" aria-live="polite">
        {props.replays.length === 0 ? (
          <p>No replay yet.</p>
        ) : (
          <Table head={['Started', 'Filter', 'State', 'Progress']}>
            {props.replays.map((replay) => (
              <tr>
                <td>{when(replay.createdAt)}</td>
                <td>
                  <code>{JSON.stringify(replay.filter)}</code>
                </td>
                <td>
                  <span class={`state ${replay.state}`}>{replay.state}</span>
                </td>
                <td>
                  <progress
                    max={Math.max(1, replay.total)}
                    value={replay.requeued}
                    aria-label={`Replay of ${replay.total}: ${replay.requeued} sent again`}
                  />{' '}
                  {`${replay.requeued} / ${replay.total}`}
                </td>
              </tr>
            ))}
          </Table>
        )}
      </div>
    </section>
  );
}
