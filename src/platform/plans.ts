import { registerApiRoutes } from '../api/routes.js';
import { adminBootstrapComponent } from '../auth/bootstrap-admin.js';
import { createAuthDeps } from '../auth/context.js';
import { createOutboxMetrics } from '../events/metrics.js';
import { OutboxRelay } from '../events/relay.js';
import type { App } from '../http/app.js';
import type { Dependencies } from './dependencies.js';
import type { ProcessPlan } from './run.js';

/** What each kind of process runs; the entries in workers/ pick one or combine several. */
export function apiPlan(deps: Dependencies): ProcessPlan {
  const auth = createAuthDeps(deps);
  return {
    components: [adminBootstrapComponent(auth)],
    routes: (app: App) => registerApiRoutes(app, deps, auth),
  };
}

export function relayPlan(deps: Dependencies): ProcessPlan {
  const { config } = deps;
  return {
    components: [
      new OutboxRelay({
        sql: deps.sql,
        kafka: deps.kafka,
        logger: deps.logger.child({ component: 'outbox-relay' }),
        metrics: createOutboxMetrics(deps.metrics.registry, deps.sql),
        batchSize: config.OUTBOX_BATCH_SIZE,
        pollIntervalMs: config.OUTBOX_POLL_INTERVAL_MS,
        retentionHours: config.OUTBOX_RETENTION_HOURS,
      }),
    ],
  };
}

/** Several plans in one process: components in order, routes of each. */
export function combinePlans(...plans: ProcessPlan[]): ProcessPlan {
  return {
    components: plans.flatMap((plan) => plan.components),
    routes: (app) => {
      for (const plan of plans) plan.routes?.(app);
    },
  };
}
