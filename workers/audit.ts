// The audit worker alone (event topics → ClickHouse): `npm run start:audit`.
import { auditPlan } from '../src/platform/plans.js';
import { main } from '../src/platform/run.js';

main('audit', auditPlan);
