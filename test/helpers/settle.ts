import { vi } from 'vitest';
import { cpuMeter, stackProcesses } from '../../scripts/bench/children.js';

export { stackProcesses };

const stackCpu = () => cpuMeter(stackProcesses);

/**
 * Waits until PostgreSQL, Redis and Kafka together used under a fifth of a core since the previous
 * look, 2 s earlier (at most a minute; then it goes on anyway); returns how many seconds it waited.
 * A test that compares latencies measures after this: earlier test files leave the services work
 * (vacuums of the rows they deleted, log compaction) that would otherwise fall in one measurement.
 */
export async function settle(meter: ReturnType<typeof cpuMeter> = stackCpu()): Promise<number> {
  const started = Date.now();
  let before = meter.snapshot();
  let since = Date.now();
  await vi
    .waitFor(
      () => {
        // The first look (at once) measures nothing: each look covers the 2 s since the previous one.
        if (Date.now() - since < 1_900) throw new Error('still measuring');
        const used = meter.since(before);
        before = meter.snapshot();
        since = Date.now();
        const stack = (used.postgres ?? 0) + (used.redis ?? 0) + (used.kafka ?? 0);
        if (stack >= 0.4) throw new Error(`the stack used ${stack.toFixed(2)} cpu-s in 2 s`);
      },
      { timeout: 60_000, interval: 2_000 },
    )
    .catch(() => {});
  return Math.round((Date.now() - started) / 1_000);
}
