import type { Child } from 'hono/jsx';
import type { Attempt, Delivery } from '../../webhooks/deliveries/schema.js';
import { publicDeliveryStatuses, publicStatus } from '../../webhooks/deliveries/schema.js';
import { Csrf, Field, Notice, Page, type PageContext, Table, when } from '../layout.js';

/** Deliveries as a table; everything in it came from the database and is rendered as text. */
export function DeliveryRows(props: { items: Delivery[] }) {
  if (props.items.length === 0) return <p>No delivery.</p>;
  return (
    <Table head={['Delivery', 'Event type', 'Status', 'Attempts', 'Last HTTP status', 'Created']}>
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
    </Table>
  );
}

/**
 * The fields that pick deliveries (search and replay alike), with `children` among them: subscription,
 * type, status (`anyStatus`: none chosen, else dead by default), user, and the time range.
 */
export function DeliveryFilterFields(props: {
  values: Record<string, string>;
  errors: Record<string, string>;
  anyStatus: boolean;
  children?: Child;
}) {
  const { values, errors } = props;
  const chosen = values.status || (props.anyStatus ? '' : 'dead');
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
          {props.anyStatus && <option value="">any</option>}
          {publicDeliveryStatuses.map((status) => (
            <option value={status} selected={chosen === status}>
              {status}
            </option>
          ))}
        </select>
      </div>
      <Field name="user_id" label="User id" value={values.user_id} error={errors.user_id} />
      {props.children}
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
        <DeliveryFilterFields values={query} errors={errors} anyStatus>
          <Field name="event_id" label="Event id" value={query.event_id} error={errors.event_id} />
          <Field
            name="http_status"
            label="HTTP status"
            type="number"
            value={query.http_status}
            error={errors.http_status}
          />
        </DeliveryFilterFields>
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
      <Attempts attempts={props.attempts} />
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

/** Every attempt of a delivery; the receiver's answer only as escaped text. */
function Attempts(props: { attempts: Attempt[] }) {
  return (
    <section class="card" aria-labelledby="attempts">
      <h2 id="attempts">Attempts</h2>
      {props.attempts.length === 0 ? (
        <p>No attempt yet.</p>
      ) : (
        <Table head={['#', 'Started', 'HTTP status', 'Duration', 'Error kind', 'Response excerpt or error']}>
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
        </Table>
      )}
    </section>
  );
}
