import { describe, expect, it } from 'vitest';
import { percentilesOf } from '../../scripts/lib/histogram.js';

describe('percentilesOf (the bench and tests latency figures)', () => {
  it('reads p50, p95, p99 and the maximum of 1..1000 exactly', () => {
    const values = Array.from({ length: 1_000 }, (_, i) => i + 1);
    expect(percentilesOf(values)).toEqual({ count: 1_000, p50: 500, p95: 950, p99: 990, max: 1_000 });
  });

  it('keeps large values within 0.1 % and counts zeros and negatives as 0', () => {
    const figures = percentilesOf([0, -3, 123_456, 2_000_000]);
    expect(figures.count).toBe(4);
    expect(figures.p50).toBe(0);
    expect(Math.abs(figures.p95 - 2_000_000) / 2_000_000).toBeLessThan(0.001);
    expect(Math.abs(figures.max - 2_000_000) / 2_000_000).toBeLessThan(0.001);
  });

  it('reports zeros for no values', () => {
    expect(percentilesOf([])).toEqual({ count: 0, p50: 0, p95: 0, p99: 0, max: 0 });
  });
});
