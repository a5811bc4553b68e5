import { publicDeliveryStatuses } from '../../webhooks/deliveries/schema.js';
import type { Replay } from '../../webhooks/replays/schema.js';
import { Csrf, Field, Notice, Page, type PageContext, when } from '../layout.js';

/** The replay filter's form fields, as text, with each field's error. */
export interface ReplayForm {
  values: Record<string, string>;
  errors: Record<string, string>;
}

function FilterFields(props: { form: ReplayForm }) {
  const { values, errors } = props.form;
  return (
    <>
      <Field
        name="subscription_id"
        label="Subscription id"
        value={values.subscription_id}
        error={errors.subscription_id}
      />
      <Field name="event_type" label="Event type" value={values.event_type} error={errors.event_type} />
      <div class="field">
        <label for="f-status">Status</label>
        <select id="f-status" name="status">
          {publicDeliveryStatuses.map((status) => (
            <option value={status} selected={(values.status || 'dead') === status}>
              {status}
            </option>
          ))}
        </select>
      </div>
      <Field name="user_id" label="User id" value={values.user_id} error={errors.user_id} />
      <Field
        name="from"
        label="Created from (UTC)"
        type="datetime-local"
        value={values.from}
        error={errors.from}
      />
      <Field
        name="to"
        label="Created before (UTC)"
        type="datetime-local"
        value={values.to}
        error={errors.to}
      />
    </>
  );
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
          <FilterFields form={props.form} />
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
      <section class="card" aria-labelledby="replays">
        <h2 id="replays">Replays</h2>
        <div id="replay-list" data-refresh="replay-list" aria-live="polite">
          {props.replays.length === 0 ? (
            <p>No replay yet.</p>
          ) : (
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Started</th>
                    <th scope="col">Filter</th>
                    <th scope="col">State</th>
                    <th scope="col">Progress</th>
                  </tr>
                </thead>
                <tbody>
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
                </tbody>
              </table>
            </div>
          )}
        </div>
      </section>
    </Page>
  );
}
