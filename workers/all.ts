// The whole platform in one process, for small installs: `npm start`.
// Each part also has an entry of its own in this folder, to be scaled separately.
import {
  apiPlan,
  auditPlan,
  combinePlans,
  deliveryPlan,
  fanoutPlan,
  relayPlan,
} from '../src/platform/plans.js';
import { main } from '../src/platform/run.js';
import { createWebhookDeps } from '../src/webhooks/context.js';

// The webhook services are built once and shared by the API, the fan-out and the delivery.
main('all', (deps) => {
  const webhooks = createWebhookDeps(deps);
  return combinePlans(
    apiPlan(deps, webhooks),
    relayPlan(deps),
    fanoutPlan(deps, webhooks),
    deliveryPlan(deps, webhooks),
    auditPlan(deps),
  );
});
