import type { Delivery } from '../../webhooks/deliveries/schema.js';
import type { SubscriptionState } from '../../webhooks/subscriptions/schema.js';
import { Csrf, Field, Notice, Page, type PageContext, Table, when } from '../layout.js';
import { DeliveryRows } from './deliveries.js';

/** A subscription form's values as typed (text), and the errors of each field. */
export interface SubscriptionForm {
  values: Record<string, string>;
  errors: Record<string, string>;
}

/** How an endpoint is doing, in words: disabled, its breaker, failing, healthy. */
export function health({ subscription, circuit }: SubscriptionState): { label: string; kind: string } {
  if (!subscription.enabled)
    return { label: `disabled (${subscription.disabledReason ?? 'by an operator'})`, kind: 'bad' };
  if (circuit.state !== 'closed') return { label: `breaker ${circuit.state.replace('_', '-')}`, kind: 'bad' };
  if (subscription.failingSince)
    return { label: `failing since ${when(subscription.failingSince)}`, kind: 'warn' };
  return { label: subscription.lastSuccessAt ? 'healthy' : 'no delivery yet', kind: 'ok' };
}

export function SubscriptionsPage(props: { ctx: PageContext; items: SubscriptionState[]; notice?: string }) {
  return (
    <Page title="Subscriptions" path="/console/subscriptions" ctx={props.ctx}>
      <Notice text={props.notice} />
      <p>
        <a class="button" href="/console/subscriptions/new">
          New subscription
        </a>
      </p>
      <Table head={['Endpoint', 'Event types', 'Health', 'Last success']}>
        {props.items.map((state) => {
          const h = health(state);
          return (
            <tr>
              <td>
                <a href={`/console/subscriptions/${state.subscription.id}`}>{state.subscription.url}</a>
                {state.subscription.description && <div class="muted">{state.subscription.description}</div>}
              </td>
              <td>{state.subscription.eventTypes.join(', ')}</td>
              <td>
                <span class={`state ${h.kind}`}>{h.label}</span>
              </td>
              <td>{when(state.subscription.lastSuccessAt)}</td>
            </tr>
          );
        })}
      </Table>
      {props.items.length === 0 && <p>No subscription yet.</p>}
    </Page>
  );
}

/** The fields a subscription is created and edited with (the API's, as form text). */
function SubscriptionFields(props: { form: SubscriptionForm; withUrl: boolean }) {
  const { values, errors } = props.form;
  return (
    <>
      {props.withUrl && (
        <Field name="url" label="Endpoint URL" type="url" value={values.url} error={errors.url} required />
      )}
      <Field
        name="event_types"
        label="Event types"
        value={values.event_types}
        error={errors.event_types}
        hint="Exact types or wildcards, separated by commas or spaces: user.*, user.session.*, *"
        required
      />
      <Field name="description" label="Description" value={values.description} error={errors.description} />
      <div class="field">
        <label for="f-headers">Headers</label>
        <textarea
          id="f-headers"
          name="headers"
          rows={3}
          aria-describedby={errors.headers ? 'f-headers-hint f-headers-error' : 'f-headers-hint'}
          aria-invalid={errors.headers ? 'true' : undefined}
        >
          {values.headers ?? ''}
        </textarea>
        <small id="f-headers-hint" class="hint">
          One per line, as Name: value. Sent with every delivery.
        </small>
        {errors.headers && (
          <small id="f-headers-error" class="error">
            {errors.headers}
          </small>
        )}
      </div>
      <Field
        name="max_in_flight"
        label="Max in flight"
        type="number"
        value={values.max_in_flight}
        error={errors.max_in_flight}
        hint="Attempts to this endpoint at once (default 20)."
      />
      <Field
        name="rate_limit_per_second"
        label="Rate limit per second"
        type="number"
        value={values.rate_limit_per_second}
        error={errors.rate_limit_per_second}
        hint="Empty: no limit."
      />
    </>
  );
}

export function NewSubscriptionPage(props: { ctx: PageContext; form: SubscriptionForm; error?: string }) {
  return (
    <Page title="New subscription" path="/console/subscriptions/new" ctx={props.ctx}>
      <Notice text={props.error} kind="error" />
      <form method="post" action="/console/subscriptions" class="card" novalidate>
        <Csrf ctx={props.ctx} />
        <SubscriptionFields form={props.form} withUrl />
        <button type="submit">Create subscription</button>
      </form>
    </Page>
  );
}

/** A signing secret, shown once (after creation or rotation), with a button that copies it. */
const SecretOnce = (props: { secret: string }) => (
  <section class="card secret" aria-labelledby="secret">
    <h2 id="secret">Signing secret</h2>
    <p>Copy it now: it is shown this once, and never again.</p>
    <p>
      <code id="secret-value">{props.secret}</code>{' '}
      <button type="button" data-copy="secret-value">
        Copy
      </button>
    </p>
  </section>
);

export function SubscriptionPage(props: {
  ctx: PageContext;
  state: SubscriptionState;
  deliveries: Delivery[];
  form: SubscriptionForm;
  notice?: string;
  error?: string;
  secret?: string;
}) {
  const { subscription } = props.state;
  return (
    <Page title={subscription.url} path="/console/subscriptions" ctx={props.ctx}>
      <Notice text={props.notice} />
      <Notice text={props.error} kind="error" />
      {props.secret && <SecretOnce secret={props.secret} />}
      <StateSection ctx={props.ctx} state={props.state} />
      <section class="card" aria-labelledby="recent">
        <h2 id="recent">Recent deliveries</h2>
        <div data-refresh="recent-deliveries" id="recent-deliveries" aria-live="polite">
          <DeliveryRows items={props.deliveries} />
        </div>
      </section>
      <section class="card" aria-labelledby="edit">
        <h2 id="edit">Edit</h2>
        <form method="post" action={`/console/subscriptions/${subscription.id}`} novalidate>
          <Csrf ctx={props.ctx} />
          <SubscriptionFields form={props.form} withUrl={false} />
          <button type="submit">Save changes</button>
        </form>
      </section>
    </Page>
  );
}

/** A subscription's state (health, breaker, last success) and what an operator does to it. */
function StateSection(props: { ctx: PageContext; state: SubscriptionState }) {
  const { subscription, circuit } = props.state;
  const h = health(props.state);
  const action = (path: string, label: string) => (
    <form method="post" action={`/console/subscriptions/${subscription.id}/${path}`} class="inline">
      <Csrf ctx={props.ctx} />
      <button type="submit">{label}</button>
    </form>
  );
  return (
    <section class="card" aria-labelledby="state">
      <h2 id="state">State</h2>
      <dl class="pairs">
        <dt>Health</dt>
        <dd>
          <span class={`state ${h.kind}`}>{h.label}</span>
        </dd>
        <dt>Breaker</dt>
        <dd>
          {circuit.state.replace('_', '-')}
          {circuit.nextProbeAt ? `, next probe ${when(new Date(circuit.nextProbeAt))}` : ''}
          {circuit.failures > 0 ? `, ${circuit.failures} consecutive failures` : ''}
        </dd>
        <dt>Last success</dt>
        <dd>{when(subscription.lastSuccessAt)}</dd>
        <dt>Id</dt>
        <dd>
          <code>{subscription.id}</code>
        </dd>
      </dl>
      <div class="actions">
        {subscription.enabled ? action('disable', 'Disable') : action('enable', 'Enable')}
        {action('rotate-secret', 'Rotate secret')}
        {action('test', 'Send test event')}
      </div>
    </section>
  );
}
