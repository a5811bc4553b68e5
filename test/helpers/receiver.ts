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
