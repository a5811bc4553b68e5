import type { ChildProcess } from 'node:child_process';
import { vi } from 'vitest';
import { spawnTsx, startTsx, stopChild } from '../../scripts/lib/child-process.js';

export interface SpawnedProcess {
  child: ChildProcess;
  baseUrl: string;
  /** Every log line the process wrote so far (JSON lines on stdout, anything on stderr). */
  output: () => string;
  /** Sends SIGTERM and resolves with the exit code; after `graceMs` (default: never), SIGKILL. */
  terminate: (signal?: NodeJS.Signals, graceMs?: number) => Promise<number | null>;
}

/**
 * Starts a real hookline process (`tsx workers/<entry>.ts`, see scripts/lib/child-process.ts) on a
 * free port and waits until it logs "process ready". The process talks to the real local stack.
 */
export async function spawnProcess(
  entry: string,
  env: Record<string, string> = {},
  options: { readyTimeoutMs?: number } = {},
): Promise<SpawnedProcess> {
  const started = await startTsx(
    [`workers/${entry}.ts`],
    { PORT: '0', LOG_LEVEL: 'info', ...env },
    {
      ready: (line) => line.includes('"process ready"'),
      keepOutput: true,
      timeoutMs: options.readyTimeoutMs,
    },
  );
  const { port } = JSON.parse(started.line) as { port: number };
  return {
    child: started.child,
    baseUrl: `http://127.0.0.1:${port}`,
    output: started.output,
    // No escalation to SIGKILL unless asked: a test that sends a signal waits for what the process
    // does with it.
    terminate: (signal = 'SIGTERM', graceMs = Number.POSITIVE_INFINITY) =>
      stopChild(started, signal, graceMs),
  };
}

/** Runs a process that is expected to exit by itself; resolves with its exit code and output. */
export async function runToExit(entry: string, env: Record<string, string>) {
  const { exited, output } = spawnTsx([`workers/${entry}.ts`], env);
  return { code: await exited, output: output() };
}

/** Polls `check` until it returns true or the time runs out. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  let lastError: unknown;
  await vi
    .waitFor(
      async () => {
        let done = false;
        try {
          done = await check();
        } catch (error) {
          lastError = error;
        }
        if (!done) throw new Error(`not yet: ${what}`);
      },
      { timeout: timeoutMs, interval: 250 },
    )
    .catch(() => {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
      );
    });
}
