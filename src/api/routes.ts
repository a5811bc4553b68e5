import type { App } from '../http/app.js';
import { registerDocsRoutes } from '../http/routes/docs.js';
import type { Dependencies } from '../platform/dependencies.js';

/** Every public route of the API process. Each feature adds its `registerX(app, deps)` here. */
export function registerApiRoutes(app: App, deps: Dependencies): void {
  registerDocsRoutes(app, { publicBaseUrl: deps.config.PUBLIC_BASE_URL });
}
