/**
 * A reading of a dependency (PostgreSQL, Redis, Kafka) for a gauge, kept off the scrape's path so a
 * scrape costs the same under load as at rest: the first scrape waits for a reading; later scrapes get
 * the last reading at once and, when it is older than `maxAgeMs`, start a new one in the background.
 * A failed reading keeps the last value (a scrape never fails because a dependency is away; readiness
 * reports that). Values are therefore at most `maxAgeMs` plus one scrape interval old.
 */
export function sampled<T>(
  read: () => Promise<T>,
  options: { maxAgeMs: number; now?: () => number },
): () => Promise<T | undefined> {
  const now = options.now ?? Date.now;
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
      await refresh();
      return latest()?.value;
    }
    if (now() - last.at >= options.maxAgeMs) void refresh();
    return last.value;
  };
}
