import type { Envelope } from '../../events/catalog.js';
import type { ActiveSubscription } from '../subscriptions/subscription-index.js';
import { unsendableHeader } from './custom-headers.js';
import type { AttemptOutcome } from './policy.js';
import { signWebhook } from './signing.js';

export const USER_AGENT = 'hookline-webhooks/0.1 (+https://www.standardwebhooks.com)';

/**
 * The body of a webhook: Standard Webhooks' `type`, `timestamp` and `data`, plus whom the event is
 * about (`user_id`) and who did it (`actor`), without which a receiver could not tell, say, whose
 * profile changed. The request's IP and user agent are not sent to receivers.
 */
export function webhookBody(
  event: Pick<Envelope, 'type' | 'occurred_at' | 'user_id' | 'actor' | 'data'>,
): string {
  return JSON.stringify({
    type: event.type,
    timestamp: event.occurred_at,
    user_id: event.user_id,
    actor: event.actor,
    data: event.data,
  });
}

/**
 * The headers every attempt of a delivery carries before it is signed: the subscription's own, then
 * the ones they cannot override. (The console shows these; `webhookHeaders` adds the signature.)
 */
export function unsignedHeaders(input: { eventId: string; custom: Record<string, string> }) {
  return {
    ...input.custom,
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': input.eventId,
  };
}

/** Signed Standard Webhooks headers for one attempt; custom headers cannot override them. */
export function webhookHeaders(input: {
  eventId: string;
  body: string;
  secrets: readonly string[];
  custom: Record<string, string>;
  now?: number;
}): Record<string, string> {
  const timestamp = Math.floor((input.now ?? Date.now()) / 1_000);
  return {
    ...unsignedHeaders(input),
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook({
      id: input.eventId,
      timestamp,
      body: input.body,
      secrets: input.secrets,
    }),
  };
}

const SECRET_UNAVAILABLE: AttemptOutcome = {
  kind: 'error',
  errorKind: 'secret_unavailable',
  message: 'the signing secret cannot be decrypted: WEBHOOK_SECRETS_KEYS does not list its key',
  durationMs: 0,
};

/**
 * Why an attempt cannot be sent at all, or undefined. Never unsigned: without a readable secret the
 * attempt fails unsent and is retried on schedule (the platform's failure, not the endpoint's). Nor
 * with a custom header that cannot be sent (stored before the rule existed): undici would refuse it,
 * and count every refusal against the origin's connections for good.
 */
export function blockedOutcome(
  subscription: Pick<ActiveSubscription, 'secrets' | 'headers'>,
): AttemptOutcome | undefined {
  if (subscription.secrets.length === 0) return SECRET_UNAVAILABLE;
  const unsendable = unsendableHeader(subscription.headers);
  if (!unsendable) return undefined;
  return {
    kind: 'error',
    errorKind: 'invalid_header',
    message: `${unsendable}: fix the subscription's headers, then recover the delivery`,
    durationMs: 0,
  };
}
