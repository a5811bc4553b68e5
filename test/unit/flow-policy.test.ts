import { describe, expect, it } from 'vitest';
import { lastAllowedMs } from '../../src/webhooks/flow/gate.js';
import { type AttemptResult, verdictOf } from '../../src/webhooks/flow/verdict.js';

describe('what an attempt says of its endpoint, for the circuit breaker', () => {
  it.each<[string, AttemptResult, ReturnType<typeof verdictOf>]>([
    ['200', { kind: 'response', status: 200 }, 'success'],
    ['204', { kind: 'response', status: 204 }, 'success'],
    ['299', { kind: 'response', status: 299 }, 'success'],
    ['301 (redirects are not followed)', { kind: 'response', status: 301 }, 'failure'],
    ['400', { kind: 'response', status: 400 }, 'failure'],
    ['410', { kind: 'response', status: 410 }, 'failure'],
    ['429', { kind: 'response', status: 429 }, 'failure'],
    ['500', { kind: 'response', status: 500 }, 'failure'],
    ['503', { kind: 'response', status: 503 }, 'failure'],
    ['a timeout', { kind: 'error', errorKind: 'timeout' }, 'failure'],
    ['a refused connection', { kind: 'error', errorKind: 'connect' }, 'failure'],
    ['a DNS failure', { kind: 'error', errorKind: 'dns' }, 'failure'],
    ['a TLS failure', { kind: 'error', errorKind: 'tls' }, 'failure'],
    ['a reset connection', { kind: 'error', errorKind: 'connection_reset' }, 'failure'],
    ['another network error', { kind: 'error', errorKind: 'network' }, 'failure'],
    ['an SSRF refusal (never sent)', { kind: 'error', errorKind: 'ssrf_blocked' }, 'neutral'],
    ['an unreadable secret (never sent)', { kind: 'not_sent' }, 'neutral'],
  ])('%s is a %s', (_, result, verdict) => {
    expect(verdictOf(result)).toBe(verdict);
  });
});

describe('the last allowed time of a deferred delivery', () => {
  it('is the whole schedule at its longest jitter, one attempt and one longest breaker cool-down', () => {
    expect(
      lastAllowedMs({ schedule: [0, 5, 300], jitter: 0.2, timeoutMs: 15_000, maxCooldownMs: 600_000 }),
    ).toBe(366_000 + 15_000 + 600_000);
    expect(lastAllowedMs({ schedule: [], jitter: 0, timeoutMs: 1_000, maxCooldownMs: 0 })).toBe(1_000);
  });
});
