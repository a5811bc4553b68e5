import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AuthDeps } from '../auth/context.js';
import type { ClickHouseClient } from '../clickhouse/client.js';
import type { Config } from '../config/load.js';
import { AppError, validationError } from '../errors.js';
import { type App, badTextErrors } from '../http/app.js';
import { problemTypes } from '../http/problem.js';
import type { Logger } from '../logger.js';
import type { WebhookDeps } from '../webhooks/context.js';
import { deadLetterCount, deliveriesPerMinute, windowFigures } from '../webhooks/deliveries/stats.js';
import { failingSubscriptions } from '../webhooks/subscriptions/read.js';
import { type ConsoleAuthDeps, type ConsoleEnv, requireConsole, servedOverHttps } from './auth.js';
import { ConsoleCookies } from './cookies.js';
import { Page } from './layout.js';
import { EventsPage } from './pages/events.js';
import { OverviewPage } from './pages/overview.js';
import { registerSignIn, registerSignOut } from './sign-in.js';
import { registerUserPages } from './users.js';
import { registerWebhookPages } from './webhooks.js';

export interface ConsoleDeps {
  auth: AuthDeps;
  webhooks: WebhookDeps;
  config: Config;
  clickhouse: ClickHouseClient;
  logger: Logger;
}

/**
 * A strict policy: the console's own files only, no inline script or style, no framing, forms only to
 * the console. Receiver-provided text on its pages is escaped text, and could not run if it were not.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

const here = dirname(fileURLToPath(import.meta.url));
const chartDir = dirname(createRequire(import.meta.url).resolve('chart.js'));
/** The console's assets, read once: its stylesheet and script, and Chart.js from its npm package. */
const assets: Record<string, { body: string; type: string }> = {
  'console.css': { body: readFileSync(join(here, 'assets/console.css'), 'utf8'), type: 'text/css' },
  'console.js': { body: readFileSync(join(here, 'assets/console.js'), 'utf8'), type: 'text/javascript' },
  'chart.umd.js': { body: readFileSync(join(chartDir, 'chart.umd.min.js'), 'utf8'), type: 'text/javascript' },
};

/**
 * The operator console at /console, served by the API process: server-rendered pages (Hono JSX) over
 * the same domain verbs as the API, signed in with an admin's password or an API key with
 * `webhooks:manage`. See docs/adr/0011-operator-console.md.
 */
export function registerConsole(app: App, deps: ConsoleDeps): void {
  const auth: ConsoleAuthDeps = {
    auth: deps.auth,
    cookies: new ConsoleCookies(deps.config.JWT_SECRET ?? randomBytes(48).toString('base64url')),
    secure: (c) => servedOverHttps(c.req.url, deps.config.PUBLIC_BASE_URL),
  };
  const web = new Hono<ConsoleEnv>();
  web.use('*', async (c, next) => {
    await next();
    c.header('content-security-policy', CSP);
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
    c.header('x-frame-options', 'DENY');
    if (!c.req.path.startsWith('/console/assets/')) c.header('cache-control', 'no-store');
  });
  web.onError((error, c) => errorPage(c, error, deps.logger));
  // The API's one text rule (no NUL, well-formed Unicode) for the console's queries and forms too.
  web.use('*', async (c, next) => {
    const form = c.req.header('content-type')?.includes('form') ? await c.req.parseBody() : {};
    const errors = [...badTextErrors(c.req.query(), 'query'), ...badTextErrors(form, 'form')];
    if (errors.length > 0) throw validationError(errors);
    await next();
  });
  web.get('/assets/:name', (c) => {
    const asset = assets[c.req.param('name')];
    if (!asset) throw new AppError('not_found', 'No such asset.');
    return c.body(asset.body, 200, {
      'content-type': `${asset.type}; charset=utf-8`,
      'cache-control': 'max-age=300',
    });
  });
  registerSignIn(web, auth);
  web.use('*', requireConsole(auth));
  registerSignOut(web, auth);
  web.get('/', async (c) =>
    c.html(<OverviewPage ctx={c.get('page')} data={await overview(deps.webhooks)} />),
  );
  web.get('/events', (c) => c.html(<EventsPage ctx={c.get('page')} />));
  registerWebhookPages(web, deps.webhooks);
  registerUserPages(web, deps);
  app.route('/console', web);
}

async function overview(webhooks: WebhookDeps) {
  const [perMinute, hour, day, failing, deadLetters] = await Promise.all([
    deliveriesPerMinute(webhooks, 60),
    windowFigures(webhooks, 3_600_000),
    windowFigures(webhooks, 86_400_000),
    failingSubscriptions(webhooks.subscriptions),
    deadLetterCount(webhooks),
  ]);
  return { perMinute, hour, day, failing, deadLetters };
}

/** An error as a page: sign-in again when the session ended, else the problem's title and detail. */
function errorPage(c: Context<ConsoleEnv>, error: Error, logger: Logger) {
  if (error instanceof AppError && error.code === 'unauthenticated' && c.req.method === 'GET') {
    return c.redirect('/console/sign-in', 303);
  }
  const known = error instanceof AppError;
  if (!known)
    logger.error({ err: error, requestId: c.get('requestId'), path: c.req.path }, 'console page failed');
  const code = known ? error.code : 'internal';
  const { title, status } = problemTypes[code];
  const detail = known
    ? error.message
    : `An unexpected error occurred (request ${c.get('requestId') ?? 'unknown'}).`;
  return c.html(
    <Page title={title} path={c.req.path}>
      <p role="alert">{detail}</p>
      <p>
        <a href="/console">Back to the console</a>
      </p>
    </Page>,
    status as ContentfulStatusCode,
  );
}
