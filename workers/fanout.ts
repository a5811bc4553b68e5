// The fan-out worker alone (Kafka events → webhook deliveries): `npm run start:fanout`.
import { fanoutPlan } from '../src/platform/plans.js';
import { main } from '../src/platform/run.js';

main('fanout', fanoutPlan);
