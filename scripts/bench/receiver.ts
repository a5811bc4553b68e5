// The bench's side of scripts/bench-receiver.ts: its figures (GET /stats), and waiting for arrivals.
import { setTimeout as sleep } from 'node:timers/promises';

/** What a receiver saw since its last reset; latencies (ms) from the event's time to its arrival. */
export type Stats = {
  received: number;
  distinct: number;
  duplicates: number;
  /** Deliveries of events not of this bench run (to a port some earlier process held): not counted. */
  foreign: number;
  first_at: number | null;
  last_at: number | null;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  max_by_second: number[];
  /** Every latency (ms), when asked for (raw). */
  latencies?: number[];
  /** When each of `latencies` arrived (ms since the epoch), when asked for (raw). */
  arrivals?: number[];
};

export const statsOf = async (port: number, reset = false, raw = false): Promise<Stats> =>
  (await (
    await fetch(`http://127.0.0.1:${port}/stats?reset=${reset ? 1 : 0}&raw=${raw ? 1 : 0}`)
  ).json()) as Stats;

/** Polls until the receiver has `count` distinct deliveries, or the time is up; returns its figures. */
export async function waitFor(port: number, count: number, timeoutMs: number): Promise<Stats> {
  const deadline = Date.now() + timeoutMs;
  let current = await statsOf(port);
  while (current.distinct < count && Date.now() < deadline) {
    await sleep(100);
    current = await statsOf(port);
  }
  return current;
}

/** The port (and, for several behaviours, the port of each in order) a receiver prints when it listens. */
export const isReceiverReady = (line: string) => line.startsWith('{"port"');
export const portsOf = (line: string) => JSON.parse(line) as { port: number; ports: number[] };
