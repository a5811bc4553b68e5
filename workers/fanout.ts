// The fan-out worker alone (Kafka events → webhook deliveries): `npm run start:fanout`.
import { fanoutPlan } from '../src/platform/plans.js';
import { main } from '../src/platform/run.js';
import { createWebhookDeps } from '../src/webhooks/context.js';

main('fanout', (deps) => fanoutPlan(deps, createWebhookDeps(deps)));
