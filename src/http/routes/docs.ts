import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Scalar } from '@scalar/hono-api-reference';
import type { App } from '../app.js';

export const openApiInfo = {
  title: 'hookline API',
  version: '0.1.0',
  description:
    'Auth service whose every user action becomes an event, and a webhook platform that delivers ' +
    'those events to subscribers, signed, retried and observable. Errors are RFC 9457 problem details.',
};

/**
 * The API reference's browser bundle, from the npm package (never a CDN): `/docs` works on a machine
 * without internet and loads nothing from elsewhere. Its URL carries a hash of its content, so it can
 * be cached for good and a new version of the package is a new URL.
 */
function referenceBundle() {
  const path = createRequire(import.meta.url).resolve('@scalar/api-reference/browser/standalone.js');
  const script = new Uint8Array(readFileSync(path));
  const hash = createHash('sha256').update(script).digest('hex').slice(0, 16);
  let gzipped: Promise<Uint8Array<ArrayBuffer>> | undefined;
  return {
    url: `/docs/assets/api-reference-${hash}.js`,
    script,
    gzipped: () => {
      gzipped ??= promisify(gzip)(script).then((zipped) => new Uint8Array(zipped));
      return gzipped;
    },
  };
}

/** `GET /openapi.json` (OpenAPI 3.1, generated from the route schemas) and `GET /docs` (API reference). */
export function registerDocsRoutes(app: App, options: { publicBaseUrl?: string | undefined }): void {
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: openApiInfo,
    ...(options.publicBaseUrl ? { servers: [{ url: options.publicBaseUrl }] } : {}),
  });
  const bundle = referenceBundle();
  app.get(
    '/docs',
    Scalar({
      url: '/openapi.json',
      pageTitle: 'hookline API reference',
      cdn: bundle.url,
      // Nothing from elsewhere: no web fonts, no telemetry, no AI agent (it calls Scalar's servers), and
      // no developer toolbar (shown on localhost, it offers to upload the document to Scalar's registry).
      withDefaultFonts: false,
      telemetry: false,
      agent: { disabled: true },
      showDeveloperTools: 'never',
    }),
  );
  app.get(bundle.url, async (c) => {
    c.header('content-type', 'text/javascript; charset=utf-8');
    c.header('cache-control', 'public, max-age=31536000, immutable');
    c.header('vary', 'accept-encoding');
    if (/\bgzip\b/.test(c.req.header('accept-encoding') ?? '')) {
      c.header('content-encoding', 'gzip');
      return c.body(await bundle.gzipped());
    }
    return c.body(bundle.script);
  });
}
