import { apiPlan, combinePlans, relayPlan } from '../../src/platform/plans.js';
import { type RunningProcess, runProcess } from '../../src/platform/run.js';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123';

export interface TestPlatform {
  baseUrl: string;
  running: RunningProcess;
  stop: () => Promise<void>;
}

/**
 * The whole platform (API and outbox relay) in this test process, on a free port, against the real
 * local stack. Each test file starts its own, with its own settings.
 */
export async function startPlatform(env: Record<string, string> = {}): Promise<TestPlatform> {
  const running = await runProcess('all', (deps) => combinePlans(apiPlan(deps), relayPlan(deps)), {
    ...process.env,
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    JWT_SECRET: TEST_JWT_SECRET,
    TRUST_PROXY_HOPS: '1',
    OUTBOX_POLL_INTERVAL_MS: '200',
    ...env,
  });
  return { baseUrl: `http://127.0.0.1:${running.port}`, running, stop: () => running.stop('test finished') };
}
