import type { AttemptStatus } from '../../db/schema/webhooks.js';
import type { Verdict } from '../flow/model.js';
import { verdictOf } from '../flow/verdict.js';
import { retryDelayMs } from '../queue/jobs.js';
import type { SendOutcome } from './http-client.js';

/** An attempt's outcome: what the endpoint answered, or why nothing was sent. */
export type AttemptOutcome =
  | SendOutcome
  | {
      kind: 'error';
      /** Not sent: no readable signing secret, or a custom header that cannot be sent. */
      errorKind: 'secret_unavailable' | 'invalid_header';
      message: string;
      durationMs: number;
    };

/** How failed attempts are retried (the process's settings). */
export interface RetryPolicy {
  /** Seconds before each retry, in order. */
  schedule: readonly number[];
  /** ± this fraction of each delay. */
  jitter: number;
  /** A receiver's Retry-After is honoured up to this long. */
  maxRetryAfterSeconds: number;
}

/** What the worker does after an attempt. */
export interface AttemptDecision {
  status: AttemptStatus;
  /** When status is retrying: how long until the next attempt. */
  delayMs: number | null;
  /** What the attempt says of the endpoint's health, for its circuit breaker. */
  verdict: Verdict;
  /** Whether a request left (false: nothing was sent, by the platform's doing). */
  sent: boolean;
  /** 410 Gone: the subscription is disabled. */
  gone: boolean;
  /** Why it failed, in words (for a retry's log line); null for a success. */
  reason: string | null;
}

const NOT_SENT = new Set(['secret_unavailable', 'invalid_header']);

/**
 * The next step after an attempt. A 2xx succeeds. Anything else fails: a 3xx (redirects are not
 * followed), 4xx, 5xx, a timeout, a network error, an address refused by the SSRF guard, or no
 * request at all (the secret unreadable). A failure is retried on the schedule (429 and 503 after the
 * receiver's Retry-After, clamped) until its last attempt, then ends dead; 410 Gone ends it at once
 * (and disables the subscription), as does a custom header that no retry could send.
 */
export function decideAttempt(
  outcome: AttemptOutcome,
  attempt: {
    /** 1 for the first retry this attempt would lead to (the job's attempts made, plus one). */
    retry: number;
    /** Whether no attempt may follow this one. */
    isLast: boolean;
  },
  policy: RetryPolicy,
  random: () => number = Math.random,
): AttemptDecision {
  const sent = !(outcome.kind === 'error' && NOT_SENT.has(outcome.errorKind));
  const verdict = verdictOf(sent ? outcome : { kind: 'not_sent' });
  const status = outcome.kind === 'response' ? outcome.status : null;
  if (status !== null && status >= 200 && status < 300) {
    return { status: 'succeeded', delayMs: null, verdict, sent, gone: false, reason: null };
  }
  const gone = status === 410;
  const reason =
    outcome.kind === 'response' ? `answered ${outcome.status}` : `${outcome.errorKind}: ${outcome.message}`;
  const final =
    gone || attempt.isLast || (outcome.kind === 'error' && outcome.errorKind === 'invalid_header');
  if (final) return { status: 'dead', delayMs: null, verdict, sent, gone, reason };
  const honourRetryAfter = outcome.kind === 'response' && (status === 429 || status === 503);
  const delayMs = retryDelayMs({
    ...policy,
    retry: attempt.retry,
    retryAfterSeconds: honourRetryAfter ? outcome.retryAfterSeconds : undefined,
    random,
  });
  return { status: 'retrying', delayMs, verdict, sent, gone, reason };
}
