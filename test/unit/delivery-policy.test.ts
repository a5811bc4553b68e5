import { describe, expect, it } from 'vitest';
import { type AttemptOutcome, decideAttempt } from '../../src/webhooks/delivery/policy.js';

// Every kind of attempt outcome and the step the worker takes after it, as a table.

const policy = { schedule: [5, 60, 300], jitter: 0.2, maxRetryAfterSeconds: 120 };
/** The middle of the jitter: each delay exactly as scheduled. */
const middle = () => 0.5;

const answered = (status: number, retryAfterSeconds?: number): AttemptOutcome => ({
  kind: 'response',
  status,
  durationMs: 12,
  excerpt: '',
  bytesRead: 0,
  truncated: false,
  retryAfterSeconds,
});
const failed = (errorKind: Extract<AttemptOutcome, { kind: 'error' }>['errorKind']): AttemptOutcome => ({
  kind: 'error',
  errorKind,
  message: 'it failed',
  durationMs: 12,
});

const first = { retry: 1, isLast: false };
const last = { retry: 4, isLast: true };

describe('decideAttempt', () => {
  it.each([
    // outcome, attempt, status, delay (ms), verdict, sent, gone
    ['200', answered(200), first, 'succeeded', null, 'success', true, false],
    ['204', answered(204), first, 'succeeded', null, 'success', true, false],
    ['299', answered(299), first, 'succeeded', null, 'success', true, false],
    ['200 on the last attempt', answered(200), last, 'succeeded', null, 'success', true, false],
    ['301 (redirects are not followed)', answered(301), first, 'retrying', 5_000, 'failure', true, false],
    ['400', answered(400), first, 'retrying', 5_000, 'failure', true, false],
    ['404', answered(404), { retry: 2, isLast: false }, 'retrying', 60_000, 'failure', true, false],
    ['410 Gone', answered(410), first, 'dead', null, 'failure', true, true],
    ['429 with Retry-After', answered(429, 30), first, 'retrying', 30_000, 'failure', true, false],
    ['429, Retry-After clamped', answered(429, 3_600), first, 'retrying', 120_000, 'failure', true, false],
    ['429 without Retry-After', answered(429), first, 'retrying', 5_000, 'failure', true, false],
    ['503 with Retry-After', answered(503, 7), first, 'retrying', 7_000, 'failure', true, false],
    ['500 (Retry-After ignored)', answered(500, 7), first, 'retrying', 5_000, 'failure', true, false],
    ['500 on the last attempt', answered(500), last, 'dead', null, 'failure', true, false],
    ['timeout', failed('timeout'), first, 'retrying', 5_000, 'failure', true, false],
    ['connect', failed('connect'), first, 'retrying', 5_000, 'failure', true, false],
    ['dns', failed('dns'), first, 'retrying', 5_000, 'failure', true, false],
    ['tls', failed('tls'), first, 'retrying', 5_000, 'failure', true, false],
    ['connection reset', failed('connection_reset'), first, 'retrying', 5_000, 'failure', true, false],
    ['network', failed('network'), first, 'retrying', 5_000, 'failure', true, false],
    ['refused by the SSRF guard', failed('ssrf_blocked'), first, 'retrying', 5_000, 'neutral', true, false],
    ['secret unavailable', failed('secret_unavailable'), first, 'retrying', 5_000, 'neutral', false, false],
    ['secret unavailable, last', failed('secret_unavailable'), last, 'dead', null, 'neutral', false, false],
    ['a header that cannot be sent', failed('invalid_header'), first, 'dead', null, 'neutral', false, false],
    [
      'beyond the schedule',
      answered(500),
      { retry: 9, isLast: false },
      'retrying',
      300_000,
      'failure',
      true,
      false,
    ],
  ] as const)('%s', (_, outcome, attempt, status, delayMs, verdict, sent, gone) => {
    const decision = decideAttempt(outcome, attempt, policy, middle);
    expect(decision).toMatchObject({ status, delayMs, verdict, sent, gone });
    expect(decision.reason === null).toBe(status === 'succeeded');
  });

  it('spreads a scheduled delay within its jitter, and never a Retry-After', () => {
    const low = decideAttempt(answered(500), first, policy, () => 0);
    const high = decideAttempt(answered(500), first, policy, () => 0.999_999);
    expect(low.delayMs).toBe(4_000);
    expect(high.delayMs).toBe(6_000);
    expect(decideAttempt(answered(429, 30), first, policy, () => 0).delayMs).toBe(30_000);
  });

  it('says why in words', () => {
    expect(decideAttempt(answered(503), first, policy, middle).reason).toBe('answered 503');
    expect(decideAttempt(failed('timeout'), first, policy, middle).reason).toBe('timeout: it failed');
  });
});
