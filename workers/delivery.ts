// The delivery workers alone (signed webhook POSTs with retries): `npm run start:delivery`.
import { deliveryPlan } from '../src/platform/plans.js';
import { main } from '../src/platform/run.js';

main('delivery', deliveryPlan);
