// Percentiles of the bench's and the tests' latencies, from an HDR histogram (hdr-histogram-js):
// exact within 0.1 % at any magnitude, in constant memory, and the same definition everywhere.
import { build } from 'hdr-histogram-js';

export type Percentiles = { count: number; p50: number; p95: number; p99: number; max: number };

/** p50, p95, p99 and the maximum of `values` (ms, or any non-negative unit); zeros when empty. */
export function percentilesOf(values: Iterable<number>): Percentiles {
  const histogram = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });
  for (const value of values) histogram.recordValue(Math.max(0, Math.round(value)));
  const count = histogram.totalCount;
  const at = (percentile: number) => (count > 0 ? histogram.getValueAtPercentile(percentile) : 0);
  const figures = { count, p50: at(50), p95: at(95), p99: at(99), max: count > 0 ? histogram.maxValue : 0 };
  histogram.destroy();
  return figures;
}
