// The bench's child processes: started with tsx, awaited until they print their ready line, and
// stopped (SIGTERM, then SIGKILL after a grace period) newest first, each awaited until it has exited.
// Their logs (stdout) are dropped, or written to BENCH_LOG_DIR/<script>-<pid>.log when it is set.
// With BENCH_CPU_PROF_DIR set, each writes a CPU profile (.cpuprofile) there when it exits.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

export type Started = { child: ChildProcess; line: string };

export class Children {
  private readonly running: ChildProcess[] = [];

  /** Starts `node --import tsx <command>` and resolves with the first stdout line `ready` accepts. */
  start(command: string[], env: Record<string, string>, ready: (line: string) => boolean): Promise<Started> {
    // BENCH_CPU_PROF_DIR: each child writes a CPU profile there when it exits (node --cpu-prof).
    const profile = process.env.BENCH_CPU_PROF_DIR;
    const flags = profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [];
    const child = spawn(process.execPath, [...flags, '--import', 'tsx', ...command], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.running.push(child);
    return new Promise((resolve, reject) => {
      let buffer = '';
      const timer = setTimeout(() => reject(new Error(`${command.join(' ')} did not start`)), 60_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        for (const line of buffer.split('\n')) {
          if (ready(line)) {
            clearTimeout(timer);
            child.stdout?.removeAllListeners('data');
            const logDir = process.env.BENCH_LOG_DIR;
            if (logDir) {
              mkdirSync(logDir, { recursive: true });
              const file = createWriteStream(
                `${logDir}/${basename(command[0] ?? 'child', '.ts')}-${child.pid}.log`,
              );
              file.write(buffer);
              child.stdout?.pipe(file);
            } else {
              child.stdout?.resume();
            }
            resolve({ child, line });
            return;
          }
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${command.join(' ')} exited with ${code}`));
      });
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves once it has exited. */
  async stop(child: ChildProcess, graceMs = 30_000): Promise<void> {
    const index = this.running.indexOf(child);
    if (index >= 0) this.running.splice(index, 1);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Stops every child still running, the newest first (receivers of bad neighbours before workers). */
  async stopAll(): Promise<void> {
    for (const child of [...this.running].reverse()) await this.stop(child);
  }
}

/** User + system CPU seconds a process has used so far (from /proc). */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

export function pidsOf(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number)
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** CPU seconds used by the bench's processes and the stack's, between a snapshot and now. */
export function cpuMeter(processes: Record<string, () => number>) {
  const snapshot = () => Object.fromEntries(Object.entries(processes).map(([name, read]) => [name, read()]));
  return {
    snapshot,
    since: (before: Record<string, number>) =>
      Object.fromEntries(
        Object.entries(snapshot()).map(([name, now]) => [
          name,
          Number((now - (before[name] ?? 0)).toFixed(2)),
        ]),
      ),
  };
}
