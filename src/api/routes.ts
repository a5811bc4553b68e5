import type { AuthDeps } from '../auth/context.js';
import type { App } from '../http/app.js';
import { registerApiKeyRoutes } from '../http/routes/api-keys.js';
import { registerAuditRoutes } from '../http/routes/audit.js';
import { registerAuthRoutes } from '../http/routes/auth.js';
import { registerDocsRoutes } from '../http/routes/docs.js';
import { registerEventTypeRoutes } from '../http/routes/event-types.js';
import { registerMeRoutes } from '../http/routes/me.js';
import { registerUserAdminRoutes } from '../http/routes/users.js';
import { registerWebhookRoutes } from '../http/routes/webhooks.js';
import type { Dependencies } from '../platform/dependencies.js';
import type { WebhookDeps } from '../webhooks/context.js';

/** Every public route of the API process. Each feature adds its `registerX(app, deps)` here. */
export function registerApiRoutes(
  app: App,
  deps: Dependencies,
  services: { auth: AuthDeps; webhooks: WebhookDeps },
): void {
  const { auth } = services;
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'An access token from `POST /v1/auth/login` or `POST /v1/auth/refresh`.',
  });
  registerAuthRoutes(app, auth);
  registerMeRoutes(app, auth);
  registerUserAdminRoutes(app, auth);
  registerApiKeyRoutes(app, auth);
  registerWebhookRoutes(app, auth, services.webhooks);
  registerAuditRoutes(app, auth, deps.clickhouse, deps.config.AUDIT_DATABASE);
  registerEventTypeRoutes(app);
  registerDocsRoutes(app, { publicBaseUrl: deps.config.PUBLIC_BASE_URL });
}
