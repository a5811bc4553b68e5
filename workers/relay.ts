// The outbox relay alone (publishes committed events to Kafka): `npm run start:relay`.
import { relayPlan } from '../src/platform/plans.js';
import { main } from '../src/platform/run.js';

main('relay', relayPlan);
