// The API process alone: `npm run start:api`.
import { apiPlan } from '../src/platform/plans.js';
import { main } from '../src/platform/run.js';

main('api', apiPlan);
