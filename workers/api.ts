// The API process alone: `npm run start:api`.
import { apiPlan } from '../src/platform/plans.js';
import { main } from '../src/platform/run.js';
import { createWebhookDeps } from '../src/webhooks/context.js';

main('api', (deps) => apiPlan(deps, createWebhookDeps(deps)));
