import { createAuthDeps } from '../auth/context.js';
import { loadConfig } from '../config/load.js';
import { Readiness } from '../health/readiness.js';
import { createLogger } from '../logger.js';
import { createMetrics } from '../metrics/registry.js';
import type { Dependencies } from '../platform/dependencies.js';
import { processApp } from '../platform/run.js';
import type { WebhookDeps } from '../webhooks/context.js';
import { registerApiRoutes } from './routes.js';

/**
 * A stand-in for the services behind the routes, for building the document only: registering a route
 * reads no service, it only keeps them for its handlers, and no request is made here. Any property is
 * another stand-in; calling one throws, so a route that used a service while being registered would
 * fail the generation instead of documenting something made up.
 */
const neverCalled: unknown = new Proxy(() => {}, {
  get: (_target, key) => (key === 'then' ? undefined : neverCalled),
  apply: () => {
    throw new Error('the API document is built from the route declarations: no service may be called');
  },
});

/**
 * The OpenAPI document the API process serves (without PUBLIC_BASE_URL), built from the same app as
 * the process (`processApp`) with no service running: `npm run generate` writes it to
 * docs/openapi.json, and a test checks that the running API serves the same.
 */
export async function apiDocument(): Promise<string> {
  const config = loadConfig('api', { JWT_SECRET: 'document-only-document-only-document-only' });
  const logger = createLogger({ level: 'silent', process: 'api' });
  const made = { config, logger, metrics: createMetrics({ process: 'api' }) };
  // What the document needs is real (config, logger, metrics); every other dependency a stand-in.
  const deps = new Proxy(made, {
    get: (target, key) => (key in target ? target[key as keyof typeof made] : neverCalled),
  }) as unknown as Dependencies;
  const app = processApp(deps, new Readiness({}, 1_000), {
    routes: (routes) =>
      registerApiRoutes(routes, deps, { auth: createAuthDeps(deps), webhooks: neverCalled as WebhookDeps }),
  });
  const response = await app.request('/openapi.json');
  return `${JSON.stringify(await response.json(), null, 2)}\n`;
}
