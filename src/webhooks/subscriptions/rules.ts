import type { FieldError } from '../../errors.js';
import { eventTypes } from '../../events/catalog.js';
import { customHeaderProblem } from '../delivery/custom-headers.js';
import { unknownFilters } from './filters.js';
import type { UpdateSubscriptionInput } from './schema.js';

/** The settings the subscription verbs follow (from the process's config). */
export interface SubscriptionRules {
  /** Plain http URLs accepted (WEBHOOK_ALLOW_HTTP). */
  allowHttp: boolean;
  /** max_in_flight of a subscription made without one (WEBHOOK_MAX_IN_FLIGHT). */
  defaultMaxInFlight: number;
  /** How long a rotated-out secret keeps signing (WEBHOOK_SECRET_OVERLAP_SECONDS). */
  secretOverlapSeconds: number;
}

/** What is wrong with a URL a subscription would deliver to. */
function urlProblems(value: string, rules: SubscriptionRules): FieldError[] {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return [{ field: 'url', message: 'must be an absolute http(s) URL', code: 'invalid_url' }];
  }
  const errors: FieldError[] = [];
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    errors.push({ field: 'url', message: 'must use https (or http)', code: 'invalid_url' });
  } else if (url.protocol === 'http:' && !rules.allowHttp) {
    errors.push({
      field: 'url',
      message: 'must use https (http is off: WEBHOOK_ALLOW_HTTP)',
      code: 'https_required',
    });
  }
  if (url.username || url.password) {
    errors.push({ field: 'url', message: 'must not carry credentials; use headers', code: 'invalid_url' });
  }
  return errors;
}

/**
 * The rules a subscription's fields follow beyond their shape: a deliverable URL, event types the
 * catalogue knows (or wildcards), headers hookline may send. Empty when the input is good.
 */
export function subscriptionProblems(input: UpdateSubscriptionInput, rules: SubscriptionRules): FieldError[] {
  const errors: FieldError[] = input.url === undefined ? [] : urlProblems(input.url, rules);
  if (input.event_types !== undefined) {
    const unknown = unknownFilters(input.event_types);
    if (unknown.length > 0) {
      errors.push({
        field: 'event_types',
        message: `unknown event types: ${unknown.join(', ')}; valid types: ${eventTypes.join(', ')} (or wildcards such as user.*, *)`,
        code: 'unknown_event_type',
      });
    }
  }
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    const problem = customHeaderProblem(name, value);
    if (problem) errors.push({ field: `headers.${name}`, ...problem });
  }
  return errors;
}
