import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';

/**
 * Runs a start-up step until it succeeds or the deadline passes, with capped exponential backoff, so
 * that a process started a moment before its database or broker waits for it instead of dying.
 */
export async function retryUntil<T>(
  what: string,
  step: () => Promise<T>,
  options: { logger: Logger; deadlineMs: number; signal?: AbortSignal },
): Promise<T> {
  const deadline = Date.now() + options.deadlineMs;
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (Date.now() + delay > deadline || options.signal?.aborted) {
        throw new Error(`${what} failed after ${attempt} attempts: ${(error as Error).message}`, {
          cause: error,
        });
      }
      options.logger.warn({ err: error, attempt, retryInMs: delay }, `${what} failed; retrying`);
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : {}).catch(() => {});
      delay = Math.min(delay * 2, 5_000);
    }
  }
}
