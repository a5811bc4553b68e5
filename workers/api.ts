// The API process alone: `npm run start:api`.
import { registerApiRoutes } from '../src/api/routes.js';
import { main } from '../src/platform/run.js';

main('api', (deps) => ({ components: [], routes: (app) => registerApiRoutes(app, deps) }));
