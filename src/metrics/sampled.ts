import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A reading of a dependency (PostgreSQL, Redis, Kafka) for a gauge, kept off the scrape's path so a
 * scrape costs the same under load as at rest. Readings are made on demand, by scrapes:
 * - while there is no reading yet, a scrape waits for one, but at most `firstWaitMs` (default 1 s):
 *   a dependency that hangs must not make the scrape time out and the process look down;
 * - afterwards a scrape gets the last reading at once and, when it is older than `maxAgeMs`, starts a
 *   new one in the background (one at a time).
 * A failed reading keeps the last value: a scrape never fails because a dependency is away (readiness
 * reports that). A value is at most `maxAgeMs` plus one scrape interval old.
 */
export function sampled<T>(
  read: () => Promise<T>,
  options: { maxAgeMs: number; firstWaitMs?: number; now?: () => number },
): () => Promise<T | undefined> {
  // A monotonic clock: a wall clock stepping back would stop the refreshes.
  const now = options.now ?? (() => performance.now());
  let last: { at: number; value: T } | undefined;
  let reading: Promise<void> | undefined;
  // (read through a function: TypeScript does not see `refresh` assigning `last`)
  const latest = () => last;
  const refresh = () => {
    reading ??= read()
      .then(
        (value) => {
          last = { at: now(), value };
        },
        () => {},
      )
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };
  return async () => {
    if (!last) {
      await Promise.race([refresh(), sleep(options.firstWaitMs ?? 1_000, undefined, { ref: false })]);
      return latest()?.value;
    }
    if (now() - last.at >= options.maxAgeMs) void refresh();
    return last.value;
  };
}
