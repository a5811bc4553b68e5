import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { zeroed } from '../../src/metrics/labels.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { sampled } from '../../src/metrics/sampled.js';

describe('sampled', () => {
  const deferred = <T>() => {
    let resolve!: (value: T) => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<T>((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    return { promise, resolve, reject };
  };

  it('waits for the first reading, then answers at once and refreshes in the background when old', async () => {
    let clock = 0;
    const readings: ReturnType<typeof deferred<number>>[] = [];
    const read = sampled(
      () => {
        const next = deferred<number>();
        readings.push(next);
        return next.promise;
      },
      { maxAgeMs: 1_000, now: () => clock },
    );

    const first = read();
    expect(readings).toHaveLength(1);
    readings[0]?.resolve(1);
    expect(await first).toBe(1);

    clock = 999;
    expect(await read()).toBe(1);
    expect(readings).toHaveLength(1);

    clock = 1_000;
    expect(await read()).toBe(1); // old: answered from the last reading, a new one started
    expect(await read()).toBe(1); // only one reading at a time
    expect(readings).toHaveLength(2);
    readings[1]?.resolve(2);
    await readings[1]?.promise;
    await new Promise((resolve) => setImmediate(resolve));
    expect(await read()).toBe(2);
  });

  it('keeps the last value when a reading fails, and tries again on the next call', async () => {
    let clock = 0;
    let calls = 0;
    const read = sampled(
      async () => {
        calls += 1;
        if (calls === 2) throw new Error('down');
        return calls;
      },
      { maxAgeMs: 10, now: () => clock },
    );
    expect(await read()).toBe(1);
    clock = 10;
    expect(await read()).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toBe(2);
    expect(await read()).toBe(1); // the failed reading left no value behind; a new one starts
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toBe(3);
    expect(await read()).toBe(3);
  });

  it('does not keep a scrape waiting longer than firstWaitMs for a first reading that hangs', async () => {
    let finish: (value: number) => void = () => {};
    const read = sampled(() => new Promise<number>((resolve) => (finish = resolve)), {
      maxAgeMs: 1_000,
      firstWaitMs: 20,
    });
    const started = performance.now();
    expect(await read()).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(500);
    finish(7);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await read()).toBe(7);
  });

  it('answers undefined when the very first reading fails', async () => {
    const read = sampled(() => Promise.reject(new Error('down')), { maxAgeMs: 10 });
    expect(await read()).toBeUndefined();
  });
});

describe('zeroed', () => {
  it('exposes every known label value at 0 before anything happened', async () => {
    const registry = new Registry();
    zeroed(
      new Counter({ name: 't_total', help: 't', labelNames: ['outcome'] as const, registers: [registry] }),
      'outcome',
      ['a', 'b'],
    ).inc({ outcome: 'b' });
    const text = await registry.metrics();
    expect(text).toContain('t_total{outcome="a"} 0');
    expect(text).toContain('t_total{outcome="b"} 1');
  });
});

describe('the process metrics', () => {
  it('measure event-loop delay: a blocked loop shows in the lag percentiles', async () => {
    const { registry } = createMetrics({ process: 'test' });
    const p99 = async () => {
      const text = await registry.metrics();
      return Number(text.match(/^hookline_nodejs_eventloop_lag_p99_seconds\{[^}]*\} (\S+)$/m)?.[1]);
    };
    // The monitor (a 10 ms timer) measures each delay from its previous tick, and a collection resets
    // it, tick included; so there is no reading it to learn it has ticked since.
    await p99(); // the first collection starts a fresh measurement window
    // A fixed wait: time must pass for the monitor to tick once after that reset (no clock to move).
    await new Promise((resolve) => setTimeout(resolve, 25));
    const until = performance.now() + 120;
    while (performance.now() < until) {} // block the event loop for 120 ms
    // Not a wait for time: the monitor's overdue tick, which measures the block, runs in the first
    // timers phase of the loop; after two turns of the loop that phase is past (a collection before
    // it would reset the monitor and lose the measurement, so this cannot be a poll).
    for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(await p99()).toBeGreaterThan(0.05);
  });
});
