// The bench's child processes (see scripts/lib/child-process.ts), stopped newest first.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startTsx, stopChild, type TsxChild } from '../lib/child-process.js';

export type Started = { child: ChildProcess; line: string };

export class Children {
  private readonly running: TsxChild[] = [];

  /** Starts `node --import tsx <command>` and resolves with the first stdout line `ready` accepts. */
  async start(
    command: string[],
    env: Record<string, string>,
    ready: (line: string) => boolean,
  ): Promise<Started> {
    // Listed at once: a bench interrupted while a child starts stops that child too.
    return startTsx(command, env, { ready, onSpawn: (started) => this.running.push(started) });
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves once it has exited. */
  async stop(child: ChildProcess, graceMs = 30_000): Promise<void> {
    const index = this.running.findIndex((running) => running.child === child);
    const [running] = index >= 0 ? this.running.splice(index, 1) : [];
    if (running) await stopChild(running, 'SIGTERM', graceMs);
  }

  /** Stops every child still running, the newest first (receivers of bad neighbours before workers). */
  async stopAll(): Promise<void> {
    for (const { child } of [...this.running].reverse()) await this.stop(child);
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

/** CPU seconds used so far by every process whose command line matches `pattern`. */
export const usedBy = (pattern: string) => () =>
  pidsOf(pattern).reduce((sum, pid) => sum + cpuSeconds(pid), 0);

/** The stack's PostgreSQL, Redis and Kafka, each as the CPU seconds its processes have used. */
export const stackProcesses = {
  postgres: usedBy('postgres'),
  redis: usedBy('redis-server'),
  kafka: usedBy('kafka.Kafka'),
};
