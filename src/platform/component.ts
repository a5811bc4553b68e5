import type { Logger } from '../logger.js';

/**
 * A long-running part of a process (the API server, the outbox relay, a consumer, a worker pool).
 * `stop()` stops taking new work and finishes or hands back what is in flight before it resolves.
 */
export interface Component {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A task run every `intervalMs` (and once `firstRunAfterMs` after start, if given) for as long as the
 * process runs, never two at once; a failure is logged and the next run comes as planned. `stop()`
 * waits for the run in progress. The timers do not keep the process alive.
 */
export function periodicComponent(options: {
  name: string;
  intervalMs: number;
  firstRunAfterMs?: number;
  task: () => Promise<void>;
  logger: Logger;
  failure: string;
}): Component {
  let timer: NodeJS.Timeout | undefined;
  let first: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let busy = false;
  // A run still going when the next is due is let finish: the next comes at the following tick (runs
  // never overlap, and `stop` waits for the one in progress).
  const run = () => {
    if (busy) return;
    busy = true;
    running = options
      .task()
      .catch((error: unknown) => options.logger.error({ err: error }, options.failure))
      .finally(() => {
        busy = false;
      });
  };
  return {
    name: options.name,
    start: async () => {
      timer = setInterval(run, options.intervalMs);
      timer.unref();
      if (options.firstRunAfterMs !== undefined) {
        first = setTimeout(run, options.firstRunAfterMs);
        first.unref();
      }
    },
    stop: async () => {
      clearInterval(timer);
      clearTimeout(first);
      await running;
    },
  };
}
