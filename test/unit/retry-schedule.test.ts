import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { deliverJobOf, jobIdOf, retryDelayMs } from '../../src/webhooks/queue/jobs.js';
import { filterMatches, unknownFilters } from '../../src/webhooks/subscriptions/filters.js';

describe('the retry schedule', () => {
  const schedule = loadConfig('delivery', {}).WEBHOOK_RETRY_SCHEDULE;

  it('defaults to immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h', () => {
    expect(schedule).toEqual([0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]);
  });

  it('applies ±20 % jitter around each delay', () => {
    const at = (retry: number, random: number) =>
      retryDelayMs({ schedule, retry, jitter: 0.2, maxRetryAfterSeconds: 3_600, random: () => random });
    expect(at(1, 0.5)).toBe(0);
    expect(at(2, 0)).toBe(4_000);
    expect(at(2, 0.5)).toBe(5_000);
    expect(at(2, 1)).toBe(6_000);
    expect(at(3, 0.5)).toBe(300_000);
    expect(at(8, 0.5)).toBe(36_000_000);
  });

  it("uses the receiver's Retry-After instead, clamped", () => {
    expect(
      retryDelayMs({ schedule, retry: 2, jitter: 0.2, retryAfterSeconds: 30, maxRetryAfterSeconds: 3_600 }),
    ).toBe(30_000);
    expect(
      retryDelayMs({
        schedule,
        retry: 2,
        jitter: 0.2,
        retryAfterSeconds: 86_400,
        maxRetryAfterSeconds: 3_600,
      }),
    ).toBe(3_600_000);
  });

  it('is configurable, and a malformed one is refused naming the variable', () => {
    expect(loadConfig('delivery', { WEBHOOK_RETRY_SCHEDULE: '1, 2,3' }).WEBHOOK_RETRY_SCHEDULE).toEqual([
      1, 2, 3,
    ]);
    expect(() => loadConfig('delivery', { WEBHOOK_RETRY_SCHEDULE: '1,soon' })).toThrow(
      /WEBHOOK_RETRY_SCHEDULE/,
    );
  });
});

describe('event type filters', () => {
  it('match exact types, dotted-prefix wildcards and *', () => {
    expect(filterMatches('user.login', 'user.login')).toBe(true);
    expect(filterMatches('user.login', 'user.login.failed')).toBe(false);
    expect(filterMatches('user.*', 'user.login.failed')).toBe(true);
    expect(filterMatches('user.session.*', 'user.session.revoked')).toBe(true);
    expect(filterMatches('user.session.*', 'user.login')).toBe(false);
    expect(filterMatches('*', 'webhook.test')).toBe(true);
  });

  it('refuse filters that match no known type', () => {
    expect(unknownFilters(['user.*', 'user.exploded', 'admin.*', '*'])).toEqual(['user.exploded', 'admin.*']);
  });
});

describe('a delivery job id', () => {
  it.each([
    { deliveryId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', generation: 0 },
    { deliveryId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', generation: 7 },
  ])('names its job: the job parked without a BullMQ job is rebuilt from it (%o)', (job) => {
    expect(deliverJobOf(jobIdOf(job))).toEqual(job);
  });

  it.each([
    'not-a-uuid',
    '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.0',
    '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.1.2',
    '',
  ])('is refused when jobIdOf cannot have made it: %j', (id) => {
    expect(deliverJobOf(id)).toBeNull();
  });
});
