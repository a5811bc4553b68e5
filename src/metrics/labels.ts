import type { Counter } from 'prom-client';

/**
 * Starts a counter's known label values at 0, so each series exists from the first scrape: `rate()`
 * and `increase()` then see the first event instead of a series appearing at 1, and dashboards show 0
 * rather than "no data".
 */
export function zeroed<L extends string>(
  counter: Counter<L>,
  label: L,
  values: readonly string[],
): Counter<L> {
  for (const value of values) counter.inc({ [label]: value } as Partial<Record<L, string>>, 0);
  return counter;
}
