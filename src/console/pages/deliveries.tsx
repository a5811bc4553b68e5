import type { Attempt, Delivery } from '../../webhooks/deliveries/schema.js';
import { publicDeliveryStatuses, publicStatus } from '../../webhooks/deliveries/schema.js';
import { Csrf, Field, Notice, Page, type PageContext, when } from '../layout.js';

/** Deliveries as a table; everything in it came from the database and is rendered as text. */
export function DeliveryRows(props: { items: Delivery[] }) {
  if (props.items.length === 0) return <p>No delivery.</p>;
  return (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th scope="col">Delivery</th>
            <th scope="col">Event type</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last HTTP status</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {props.items.map((d) => (
            <tr>
              <td>
                <a href={`/console/deliveries/${d.id}`}>{d.id.slice(0, 8)}…</a>
              </td>
              <td>{d.eventType}</td>
              <td>
                <span class={`state ${d.status}`}>{publicStatus(d.status)}</span>
              </td>
              <td>{d.attempts}</td>
              <td>{d.lastStatusCode ?? d.lastError ?? '—'}</td>
              <td>{when(d.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function DeliveriesPage(props: {
  ctx: PageContext;
  query: Record<string, string>;
  errors: Record<string, string>;
  items: Delivery[];
  nextCursor: string | null;
}) {
  const { query, errors } = props;
  const next = new URLSearchParams({ ...query, cursor: props.nextCursor ?? '' });
  return (
    <Page title="Deliveries" path="/console/deliveries" ctx={props.ctx}>
      <form method="get" action="/console/deliveries" class="card search" aria-label="Search deliveries">
        <Field
          name="subscription_id"
          label="Subscription id"
          value={query.subscription_id}
          error={errors.subscription_id}
        />
        <Field name="event_type" label="Event type" value={query.event_type} error={errors.event_type} />
        <div class="field">
          <label for="f-status">Status</label>
          <select id="f-status" name="status">
            <option value="">any</option>
            {publicDeliveryStatuses.map((status) => (
              <option value={status} selected={query.status === status}>
                {status}
              </option>
            ))}
          </select>
        </div>
        <Field name="user_id" label="User id" value={query.user_id} error={errors.user_id} />
        <Field name="event_id" label="Event id" value={query.event_id} error={errors.event_id} />
        <Field
          name="http_status"
          label="HTTP status"
          type="number"
          value={query.http_status}
          error={errors.http_status}
        />
        <Field name="from" label="From (UTC)" type="datetime-local" value={query.from} error={errors.from} />
        <Field name="to" label="To (UTC)" type="datetime-local" value={query.to} error={errors.to} />
        <button type="submit">Search</button>
      </form>
      <DeliveryRows items={props.items} />
      {props.nextCursor && (
        <p>
          <a href={`/console/deliveries?${next.toString()}`} rel="next">
            Next page
          </a>
        </p>
      )}
    </Page>
  );
}

/**
 * One delivery: the payload, the headers each attempt sends (the signature is computed per attempt
 * from the secret, which is never shown), and every attempt. A receiver's answer (excerpt, error) is
 * hostile text: it is only ever rendered as escaped text inside <pre>, never as markup.
 */
export function DeliveryPage(props: {
  ctx: PageContext;
  delivery: Delivery;
  attempts: Attempt[];
  payload: string;
  headers: Record<string, string>;
  subscriptionUrl: string;
  notice?: string;
}) {
  const { delivery } = props;
  return (
    <Page title={`Delivery ${delivery.id}`} path="/console/deliveries" ctx={props.ctx}>
      <Notice text={props.notice} />
      <section class="card" aria-labelledby="summary">
        <h2 id="summary">Summary</h2>
        <dl class="pairs">
          <dt>Status</dt>
          <dd>
            <span class={`state ${delivery.status}`}>{publicStatus(delivery.status)}</span>
          </dd>
          <dt>Subscription</dt>
          <dd>
            <a href={`/console/subscriptions/${delivery.subscriptionId}`}>{props.subscriptionUrl}</a>
          </dd>
          <dt>Event</dt>
          <dd>
            {delivery.eventType} <code>{delivery.eventId}</code>
          </dd>
          <dt>Created</dt>
          <dd>{when(delivery.createdAt)}</dd>
          <dt>Delivered</dt>
          <dd>{when(delivery.deliveredAt)}</dd>
          <dt>Next attempt</dt>
          <dd>{when(delivery.nextAttemptAt)}</dd>
        </dl>
        <form method="post" action={`/console/deliveries/${delivery.id}/retry`} class="inline">
          <Csrf ctx={props.ctx} />
          <button type="submit">Retry now</button>
        </form>
      </section>
      <section class="card" aria-labelledby="attempts">
        <h2 id="attempts">Attempts</h2>
        {props.attempts.length === 0 ? (
          <p>No attempt yet.</p>
        ) : (
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Started</th>
                  <th scope="col">HTTP status</th>
                  <th scope="col">Duration</th>
                  <th scope="col">Error kind</th>
                  <th scope="col">Response excerpt or error</th>
                </tr>
              </thead>
              <tbody>
                {props.attempts.map((a) => (
                  <tr>
                    <td>{a.number}</td>
                    <td>{when(a.startedAt)}</td>
                    <td>{a.statusCode ?? '—'}</td>
                    <td>{a.durationMs} ms</td>
                    <td>{a.errorKind ?? '—'}</td>
                    <td>
                      {a.responseExcerpt || a.errorMessage ? (
                        <pre class="excerpt">{a.responseExcerpt || a.errorMessage}</pre>
                      ) : (
                        '—'
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section class="card" aria-labelledby="headers">
        <h2 id="headers">Headers sent</h2>
        <pre>
          {Object.entries(props.headers)
            .map(([name, value]) => `${name}: ${value}`)
            .join('\n')}
        </pre>
      </section>
      <section class="card" aria-labelledby="payload">
        <h2 id="payload">Payload</h2>
        <pre>{props.payload}</pre>
      </section>
    </Page>
  );
}
