// The project's TypeScript entries (workers/*.ts, scripts/*.ts) as child processes, for the tests and
// the bench alike: `node --import tsx <entry>`, awaited until it prints its ready line, stopped with
// SIGTERM (then SIGKILL after a grace period) and awaited until it has exited.
// With BENCH_CPU_PROF_DIR set, each writes a CPU profile (.cpuprofile) there when it exits; with
// BENCH_LOG_DIR set, a child whose output is not kept writes it to <dir>/<entry>-<pid>.log (else its
// stdout is dropped and its stderr passed on).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface TsxChild {
  child: ChildProcess;
  /** What it wrote so far, stdout and stderr (empty after its ready line unless `keepOutput`). */
  output: () => string;
  /** Resolves with its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

/** Spawns `node --import tsx <args>` from the project's root with `env` over this process's own. */
export function spawnTsx(args: readonly string[], env: Record<string, string>): TsxChild {
  const profile = process.env.BENCH_CPU_PROF_DIR;
  const flags = profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [];
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', ...args], {
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
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, output: () => output, exited };
}

/**
 * Starts an entry and resolves with its first output line that `ready` accepts. One that exits first,
 * or is not ready within `timeoutMs` (then killed: never left behind), rejects with its output.
 * Unless `keepOutput`, its output is dropped from then on (or written to BENCH_LOG_DIR).
 */
export async function startTsx(
  args: readonly string[],
  env: Record<string, string>,
  options: {
    ready: (line: string) => boolean;
    keepOutput?: boolean;
    timeoutMs?: number;
    /** Called at once with the child (before it is ready), e.g. to stop it if the caller is stopped. */
    onSpawn?: (started: TsxChild) => void;
  },
): Promise<TsxChild & { line: string }> {
  const started = spawnTsx(args, env);
  options.onSpawn?.(started);
  const { child, output } = started;
  const name = basename(args[0] ?? 'child', '.ts');
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} not ready in time; output:\n${output()}`));
    }, options.timeoutMs ?? 60_000);
    const onData = () => {
      const found = output()
        .split('\n')
        .find((candidate) => options.ready(candidate));
      if (found === undefined) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolve(found);
    };
    child.stdout?.on('data', onData);
    void started.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready; output:\n${output()}`));
    });
  });
  if (options.keepOutput) return { ...started, line };
  child.stdout?.removeAllListeners('data');
  child.stderr?.removeAllListeners('data');
  const logDir = process.env.BENCH_LOG_DIR;
  if (logDir) {
    mkdirSync(logDir, { recursive: true });
    const file = createWriteStream(`${logDir}/${name}-${child.pid}.log`);
    file.write(output());
    child.stdout?.pipe(file);
    child.stderr?.pipe(file);
  } else {
    child.stdout?.resume();
    child.stderr?.pipe(process.stderr); // its errors still show
  }
  return { ...started, output: () => '', line };
}

/**
 * Sends `signal`, then SIGKILL if it has not exited after `graceMs` (never, when infinite); resolves
 * with its exit code.
 */
export async function stopChild(
  { child, exited }: Pick<TsxChild, 'child' | 'exited'>,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 30_000,
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill(signal);
  // An infinite grace never escalates (a timer that long would fire at once: Node caps its delay).
  const timer = Number.isFinite(graceMs) ? setTimeout(() => child.kill('SIGKILL'), graceMs) : undefined;
  const code = await exited;
  clearTimeout(timer);
  return code;
}
