import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { AppError, type FieldError } from '../errors.js';
import { actorOf } from '../http/middleware/auth.js';
import type { WebhookDeps } from '../webhooks/context.js';
import { getDelivery, listDeliveries } from '../webhooks/deliveries/read.js';
import { retryDelivery } from '../webhooks/deliveries/requeue.js';
import { deliveryMatchFields, matchOf } from '../webhooks/deliveries/schema.js';
import { unsignedHeaders, webhookBody } from '../webhooks/delivery/request.js';
import { createSubscription } from '../webhooks/subscriptions/create.js';
import { getSubscription, listSubscriptions } from '../webhooks/subscriptions/read.js';
import { rotateSecret } from '../webhooks/subscriptions/rotate-secret.js';
import type { Subscription } from '../webhooks/subscriptions/schema.js';
import { findSubscription } from '../webhooks/subscriptions/store.js';
import { sendTestEvent } from '../webhooks/subscriptions/test-event.js';
import { updateSubscription } from '../webhooks/subscriptions/update.js';
import type { ConsoleEnv } from './auth.js';
import { backTo, formText, instantOf, uuidParam } from './forms.js';
import { DeliveriesPage, DeliveryPage } from './pages/deliveries.js';
import {
  NewSubscriptionPage,
  type SubscriptionForm,
  SubscriptionPage,
  SubscriptionsPage,
} from './pages/subscriptions.js';
import { registerReplayPages } from './replays.js';

/**
 * Each field's first error, by the field's first path segment after `prefix` (`event_types.0` →
 * `event_types`); null when the error is not a validation error.
 */
export function errorsByField(error: unknown, prefix = ''): Record<string, string> | null {
  if (!(error instanceof AppError) || error.code !== 'validation_failed') return null;
  const out: Record<string, string> = {};
  for (const e of error.fieldErrors ?? ([] as FieldError[])) {
    const path = e.field.startsWith(prefix) ? e.field.slice(prefix.length) : e.field;
    const field = path.split('.')[0] ?? path;
    out[field] ??= e.message;
  }
  return out;
}

/** A subscription form's text as the API's input (empty optional fields left out). */
function subscriptionInput(values: Record<string, string>, withUrl: boolean) {
  const headers: Record<string, string> = {};
  for (const line of (values.headers ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)) {
    const colon = line.indexOf(':');
    headers[colon > 0 ? line.slice(0, colon).trim() : line] = colon > 0 ? line.slice(colon + 1).trim() : '';
  }
  const number = (text: string | undefined) => (text ? Number(text) : undefined);
  return {
    ...(withUrl ? { url: values.url ?? '' } : {}),
    event_types: (values.event_types ?? '').split(/[\s,]+/).filter(Boolean),
    description: values.description || null,
    headers,
    ...(values.max_in_flight ? { max_in_flight: number(values.max_in_flight) } : {}),
    rate_limit_per_second: number(values.rate_limit_per_second) ?? null,
  };
}

/** A subscription's fields as form text. */
const formOf = (s: Subscription): SubscriptionForm => ({
  values: {
    event_types: s.eventTypes.join(', '),
    description: s.description ?? '',
    headers: Object.entries(s.headers)
      .map(([name, value]) => `${name}: ${value}`)
      .join('\n'),
    max_in_flight: String(s.maxInFlight),
    rate_limit_per_second: s.rateLimitPerSecond === null ? '' : String(s.rateLimitPerSecond),
  },
  errors: {},
});

export function registerWebhookPages(web: Hono<ConsoleEnv>, hooks: WebhookDeps): void {
  registerSubscriptionPages(web, hooks);
  registerSubscriptionActions(web, hooks);
  registerDeliveryPages(web, hooks);
  registerReplayPages(web, hooks);
}

async function subscriptionPage(
  c: Context<ConsoleEnv>,
  hooks: WebhookDeps,
  id: string,
  extra: { notice?: string; error?: string; secret?: string; form?: SubscriptionForm } = {},
) {
  const state = await getSubscription(hooks.subscriptions, id);
  const recent = await listDeliveries(hooks, { limit: 10, subscriptionId: id });
  return (
    <SubscriptionPage
      ctx={c.get('page')}
      state={state}
      deliveries={recent.items}
      form={extra.form ?? formOf(state.subscription)}
      notice={extra.notice ?? c.req.query('notice')}
      error={extra.error}
      secret={extra.secret}
    />
  );
}

function registerSubscriptionPages(web: Hono<ConsoleEnv>, hooks: WebhookDeps): void {
  const deps = hooks.subscriptions;
  web.get('/subscriptions', async (c) => {
    const found = await listSubscriptions(deps, { limit: 200 });
    return c.html(
      <SubscriptionsPage ctx={c.get('page')} items={found.items} notice={c.req.query('notice')} />,
    );
  });
  web.get('/subscriptions/new', (c) =>
    c.html(
      <NewSubscriptionPage ctx={c.get('page')} form={{ values: { event_types: 'user.*' }, errors: {} }} />,
    ),
  );
  web.post('/subscriptions', async (c) => {
    const values = formText(await c.req.parseBody());
    try {
      const made = await createSubscription(deps, subscriptionInput(values, true) as never);
      return c.html(
        await subscriptionPage(c, hooks, made.subscription.id, {
          notice: 'Subscription created.',
          secret: made.secret,
        }),
        201,
      );
    } catch (error) {
      const errors = errorsByField(error);
      if (!errors) throw error;
      const page = (
        <NewSubscriptionPage
          ctx={c.get('page')}
          form={{ values, errors }}
          error="Fix the fields marked below."
        />
      );
      return c.html(page, 400);
    }
  });
  web.get('/subscriptions/:id', async (c) => c.html(await subscriptionPage(c, hooks, uuidParam(c, 'id'))));
  web.post('/subscriptions/:id', async (c) => {
    const id = uuidParam(c, 'id');
    const values = formText(await c.req.parseBody());
    try {
      await updateSubscription(deps, id, subscriptionInput(values, false) as never);
      return backTo(c, `/subscriptions/${id}`, 'Changes saved.');
    } catch (error) {
      const errors = errorsByField(error);
      if (!errors) throw error;
      const form = { values, errors };
      return c.html(
        await subscriptionPage(c, hooks, id, { form, error: 'Fix the fields marked below.' }),
        400,
      );
    }
  });
}

function registerSubscriptionActions(web: Hono<ConsoleEnv>, hooks: WebhookDeps): void {
  const deps = hooks.subscriptions;
  const back = (c: Context<ConsoleEnv>, id: string, notice: string) =>
    backTo(c, `/subscriptions/${id}`, notice);
  web.post('/subscriptions/:id/enable', async (c) => {
    const id = uuidParam(c, 'id');
    await updateSubscription(deps, id, { enabled: true });
    return back(c, id, 'Enabled.');
  });
  web.post('/subscriptions/:id/disable', async (c) => {
    const id = uuidParam(c, 'id');
    await updateSubscription(deps, id, { enabled: false });
    return back(c, id, 'Disabled.');
  });
  web.post('/subscriptions/:id/rotate-secret', async (c) => {
    const id = uuidParam(c, 'id');
    const rotated = await rotateSecret(deps, id);
    return c.html(
      await subscriptionPage(c, hooks, id, {
        notice: 'A new secret signs from now on.',
        secret: rotated.secret,
      }),
    );
  });
  web.post('/subscriptions/:id/test', async (c) => {
    const id = uuidParam(c, 'id');
    const sent = await sendTestEvent(deps, id, actorOf(c.get('caller')));
    return back(c, id, `Test event ${sent.eventId} sent: watch it arrive below.`);
  });
}

/** The search form: the API's delivery query (its dates given as UTC date-times, see `instantOf`). */
const SearchQuery = z.object({ ...deliveryMatchFields, cursor: z.uuid().optional() });

function registerDeliveryPages(web: Hono<ConsoleEnv>, hooks: WebhookDeps): void {
  web.get('/deliveries', (c) => searchPage(c, hooks));
  web.get('/deliveries/:id', (c) => deliveryPage(c, hooks));
  web.post('/deliveries/:id/retry', async (c) => {
    const id = uuidParam(c, 'id');
    await retryDelivery(hooks.subscriptions, id);
    return backTo(c, `/deliveries/${id}`, 'Queued again.');
  });
}

/** The search: the query's fields checked (each error shown by its field), then a page of results. */
async function searchPage(c: Context<ConsoleEnv>, hooks: WebhookDeps) {
  const query = Object.fromEntries(Object.entries(c.req.query()).filter(([, v]) => v !== ''));
  const from = instantOf(query.from);
  const to = instantOf(query.to);
  const parsed = SearchQuery.safeParse({ ...query, from: from ?? undefined, to: to ?? undefined });
  const errors: Record<string, string> = {};
  for (const issue of parsed.error?.issues ?? []) errors[String(issue.path[0])] ??= issue.message;
  if (from === null) errors.from = 'must be a date and time';
  if (to === null) errors.to = 'must be a date and time';
  const found =
    parsed.success && Object.keys(errors).length === 0
      ? await listDeliveries(hooks, { limit: 50, cursor: parsed.data.cursor, ...matchOf(parsed.data) })
      : { items: [], nextCursor: null };
  const { cursor: _, ...kept } = query;
  const page = (
    <DeliveriesPage
      ctx={c.get('page')}
      query={kept}
      errors={errors}
      items={found.items}
      nextCursor={found.nextCursor}
    />
  );
  return c.html(page, Object.keys(errors).length > 0 ? 400 : 200);
}

/**
 * One delivery with its payload (the webhook body as sent), the headers it is sent with (timestamp
 * and signature described: they are made at each attempt, and the secret is never shown) and attempts.
 */
async function deliveryPage(c: Context<ConsoleEnv>, hooks: WebhookDeps) {
  const { delivery, attempts } = await getDelivery(hooks, uuidParam(c, 'id'));
  const [event] = await hooks.sql<{ payload: Parameters<typeof webhookBody>[0] }[]>`
    SELECT payload FROM webhook_events WHERE id = ${delivery.eventId}`;
  // The row alone (its URL and headers): not its breaker, which this page does not show.
  const subscription = await findSubscription(hooks.sql, delivery.subscriptionId);
  const body = event ? webhookBody(event.payload) : '';
  const headers = {
    ...unsignedHeaders({ eventId: delivery.eventId, custom: subscription.headers }),
    'webhook-timestamp': '(the time of each attempt, in seconds)',
    'webhook-signature':
      "v1,… (HMAC-SHA256 under the subscription's secret, made at each attempt; never shown)",
  };
  const payload = body ? JSON.stringify(JSON.parse(body), null, 2) : '(the event is no longer stored)';
  const page = (
    <DeliveryPage
      ctx={c.get('page')}
      delivery={delivery}
      attempts={attempts}
      payload={payload}
      headers={headers}
      subscriptionUrl={subscription.url}
      notice={c.req.query('notice')}
    />
  );
  return c.html(page);
}
