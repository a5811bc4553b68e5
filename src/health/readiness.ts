import { withDeadline } from '../platform/deadline.js';

/**
 * Readiness of a process: each named dependency check must answer within the timeout. A check that
 * throws or times out marks its dependency down, with the reason, and the process not ready.
 */
export type DependencyCheck = () => Promise<unknown>;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, { status: 'up' | 'down'; latency_ms: number; error?: string }>;
}

export class Readiness {
  private shuttingDown = false;

  constructor(
    private readonly checks: Record<string, DependencyCheck>,
    private readonly timeoutMs: number,
  ) {}

  /** After SIGTERM the process answers not ready, so load balancers stop sending it work. */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  async report(): Promise<ReadinessReport> {
    const entries = await Promise.all(
      Object.entries(this.checks).map(async ([name, check]) => {
        const started = performance.now();
        try {
          await withDeadline(check(), this.timeoutMs);
          return [
            name,
            { status: 'up' as const, latency_ms: Math.round(performance.now() - started) },
          ] as const;
        } catch (error) {
          const message = error instanceof Error ? error.message || error.name : String(error);
          return [
            name,
            { status: 'down' as const, latency_ms: Math.round(performance.now() - started), error: message },
          ] as const;
        }
      }),
    );
    const checks = Object.fromEntries(entries);
    const ready = !this.shuttingDown && entries.every(([, result]) => result.status === 'up');
    return { ready, checks };
  }
}
