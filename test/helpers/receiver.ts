import { vi } from 'vitest';
import { type Behaviour, listen, type ReceivedRequest } from '../../scripts/lib/receiver.js';

export type { Answer, ReceivedRequest } from '../../scripts/lib/receiver.js';

/**
 * A real webhook receiver on loopback (scripts/lib/receiver.ts): records every request and answers
 * as `behaviour` says (a status, a redirect, nothing at all, or a huge streamed body).
 */
export async function startReceiver(behaviour?: Behaviour, options: { host?: string } = {}) {
  const receiver = await listen(behaviour, options);
  return {
    ...receiver,
    /** Waits until `count` requests match, and returns every matching one. */
    waitFor(count: number, timeoutMs = 20_000, match: (r: ReceivedRequest) => boolean = () => true) {
      return vi.waitFor(
        () => {
          const found = receiver.requests.filter(match);
          if (found.length < count) throw new Error(`receiver got ${found.length} of ${count} requests`);
          return found;
        },
        { timeout: timeoutMs, interval: 50 },
      );
    },
  };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/**
 * A receiver answering 200 that counts, per webhook id, the deliveries whose body carries `marker`
 * (a test's own events): `seen.size` events arrived, `duplicates()` deliveries beyond the first of each.
 */
export async function startCountingReceiver(marker: string) {
  const seen = new Map<string, number>();
  const receiver = await startReceiver((request) => {
    if (request.body.includes(marker)) {
      const id = String(request.headers['webhook-id']);
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    return { status: 200 };
  });
  const duplicates = () => [...seen.values()].reduce((sum, n) => sum + n - 1, 0);
  return Object.assign(receiver, { seen, duplicates });
}

export type CountingReceiver = Awaited<ReturnType<typeof startCountingReceiver>>;
