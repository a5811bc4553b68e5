import { vi } from 'vitest';
import type { Dependencies } from '../../src/platform/dependencies.js';
import {
  apiPlan,
  auditPlan,
  combinePlans,
  deliveryPlan,
  fanoutPlan,
  relayPlan,
} from '../../src/platform/plans.js';
import { type RunningProcess, runProcess } from '../../src/platform/run.js';
import { createWebhookDeps } from '../../src/webhooks/context.js';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123';

export interface TestPlatform {
  baseUrl: string;
  running: RunningProcess;
  stop: () => Promise<void>;
}

/**
 * The platform in this test process, on a free port, against the real local stack: the API and the
 * outbox relay, and with `webhooks` also the fan-out and delivery workers. Each test file starts its
 * own, with its own settings. Only one file at a time may run the webhook workers (they share the
 * fan-out consumer group and the delivery queue, as separate processes of one install would), so the
 * files that do are the webhooks file of `integration` and those of `chaos` and `browser`, which run
 * alone.
 */
/** The platform's webhook services (its queue, index, flow control), as its plans were built with. */
export function webhooksOf(platform: TestPlatform) {
  const built = platform.running.plan.services?.webhooks;
  if (!built) throw new Error('the platform runs no webhook services');
  return built;
}

/**
 * Waits until the platform's subscription index holds the subscription: every process's index
 * follows changes through NOTIFY, so a subscription made through the API reaches it shortly after.
 */
export async function indexed(
  platform: TestPlatform,
  subscriptionId: string,
  timeout = 5_000,
): Promise<void> {
  await vi.waitFor(
    () => {
      if (!webhooksOf(platform).index.get(subscriptionId))
        throw new Error(`subscription ${subscriptionId} is not in the platform's index yet`);
    },
    { timeout, interval: 20 },
  );
}

export async function startPlatform(
  env: Record<string, string> = {},
  options: { webhooks?: boolean | 'fanout-only'; audit?: boolean } = {},
): Promise<TestPlatform> {
  const plan = (deps: Dependencies) => {
    const webhooks = createWebhookDeps(deps);
    const plans = [apiPlan(deps, webhooks), relayPlan(deps)];
    if (options.webhooks) plans.push(fanoutPlan(deps, webhooks));
    if (options.webhooks === true) plans.push(deliveryPlan(deps, webhooks));
    if (options.audit) plans.push(auditPlan(deps));
    return combinePlans(...plans);
  };
  const running = await runProcess('all', plan, {
    ...process.env,
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    JWT_SECRET: TEST_JWT_SECRET,
    TRUST_PROXY_HOPS: '1',
    OUTBOX_POLL_INTERVAL_MS: '200',
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
    ...env,
  });
  return { baseUrl: `http://127.0.0.1:${running.port}`, running, stop: () => running.stop('test finished') };
}
