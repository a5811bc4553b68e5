import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface SpawnedProcess {
  child: ChildProcess;
  baseUrl: string;
  /** Every log line the process wrote so far (JSON lines on stdout, anything on stderr). */
  output: () => string;
  /** Sends SIGTERM and resolves with the exit code. */
  terminate: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** `tsx workers/<entry>.ts` with the test's environment and `env`, its output (stdout and stderr) kept. */
function startWorker(entry: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', `workers/${entry}.ts`], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => output };
}

/**
 * Starts a real hookline process (`tsx workers/<entry>.ts`) on a free port and waits until it logs
 * "process ready". The process talks to the real local stack.
 */
export async function spawnProcess(
  entry: string,
  env: Record<string, string> = {},
  options: { readyTimeoutMs?: number } = {},
): Promise<SpawnedProcess> {
  const { child, output: written } = startWorker(entry, { PORT: '0', LOG_LEVEL: 'info', ...env });
  const exited = once(child, 'exit').then(([code]) => code as number | null);

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Never left behind: a process that did not get ready is stopped before the test fails.
      child.kill('SIGKILL');
      reject(new Error(`${entry} not ready in time; output:\n${written()}`));
    }, options.readyTimeoutMs ?? 60_000);
    const onData = () => {
      for (const line of written().split('\n')) {
        if (!line.includes('"process ready"')) continue;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
        return;
      }
    };
    child.stdout?.on('data', onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${code} before it was ready; output:\n${written()}`));
    });
  });

  return {
    child,
    baseUrl: `http://127.0.0.1:${port}`,
    output: written,
    terminate: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs a process that is expected to exit by itself; resolves with its exit code and output. */
export async function runToExit(entry: string, env: Record<string, string>) {
  const { child, output } = startWorker(entry, env);
  const [code] = await once(child, 'exit');
  return { code: code as number | null, output: output() };
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
