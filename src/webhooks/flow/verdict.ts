import type { Verdict } from './model.js';

/** The outcome of an attempt as the breaker sees it. */
export type AttemptResult =
  | { kind: 'response'; status: number }
  | { kind: 'error'; errorKind: string }
  | { kind: 'not_sent' };

/**
 * What an attempt says of the endpoint's health: a 2xx is a success; any other answer, a timeout or
 * a network error is a failure; an attempt that never left (its secret unreadable, its address refused
 * by the SSRF guard: the platform's or the operator's doing, not the endpoint's) says nothing.
 */
export function verdictOf(result: AttemptResult): Verdict {
  if (result.kind === 'not_sent') return 'neutral';
  if (result.kind === 'error') return result.errorKind === 'ssrf_blocked' ? 'neutral' : 'failure';
  return result.status >= 200 && result.status < 300 ? 'success' : 'failure';
}
