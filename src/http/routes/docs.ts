import { Scalar } from '@scalar/hono-api-reference';
import type { App } from '../app.js';

export const openApiInfo = {
  title: 'hookline API',
  version: '0.1.0',
  description:
    'Auth service whose every user action becomes an event, and a webhook platform that delivers ' +
    'those events to subscribers, signed, retried and observable. Errors are RFC 9457 problem details.',
};

/** `GET /openapi.json` (OpenAPI 3.1, generated from the route schemas) and `GET /docs` (API reference). */
export function registerDocsRoutes(app: App, options: { publicBaseUrl?: string | undefined }): void {
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: openApiInfo,
    ...(options.publicBaseUrl ? { servers: [{ url: options.publicBaseUrl }] } : {}),
  });
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'hookline API reference' }));
}
