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

main('all', (deps) =>
  combinePlans(apiPlan(deps), relayPlan(deps), fanoutPlan(deps), deliveryPlan(deps), auditPlan(deps)),
);
