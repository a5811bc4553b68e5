// The whole platform in one process, for small installs: `npm start`.
// Each worker also has an entry of its own in this folder, to be scaled separately.
import { registerApiRoutes } from '../src/api/routes.js';
import { main } from '../src/platform/run.js';

main('all', (deps) => ({ components: [], routes: (app) => registerApiRoutes(app, deps) }));
