// The delivery workers alone (signed webhook POSTs with retries): `npm run start:delivery`.
import { deliveryPlan } from '../src/platform/plans.js';
import { main } from '../src/platform/run.js';
import { createWebhookDeps } from '../src/webhooks/context.js';

main('delivery', (deps) => deliveryPlan(deps, createWebhookDeps(deps)));
