import { OpenAPIHono, type OpenAPIHonoOptions } from '@hono/zod-openapi';
import type { Context, ErrorHandler, MiddlewareHandler, NotFoundHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import type { Caller } from '../auth/account.js';
import { AppError, type ErrorCode, type FieldError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  buildProblem,
  methodNotAllowedResponse,
  PROBLEM_CONTENT_TYPE,
  platformProblems,
  problemTypes,
} from './problem.js';

/** Per-request values: the request id, and the caller once `requireAuth` has run. */
export type AppEnv = { Variables: { requestId: string; caller: Caller } };
export type App = OpenAPIHono<AppEnv>;

const targetNames: Record<string, string> = { json: 'body', form: 'body', query: 'query', param: 'path' };

/** Zod issues as field errors named after where the value came from: `body.email`, `query.limit`. */
export function fieldErrorsOf(error: ZodError, target: string): FieldError[] {
  const where = targetNames[target] ?? target;
  return error.issues.map((issue) => ({
    // A key with an unpaired surrogate is named with U+FFFD, so the answer is well-formed text too.
    field: [where, ...issue.path.map(String)].join('.').toWellFormed(),
    message: issue.message,
    code: issue.code,
  }));
}

/**
 * The one rule for text input: every string and object key of a body, query or path is text PostgreSQL
 * can store as sent, so well-formed Unicode without NUL. An unpaired UTF-16 surrogate (`"\udfff"` in
 * JSON) would be replaced silently in a text column and fail a jsonb one; NUL fails both. Field errors
 * name the value (`body.metadata.foo`) or, for a key, the key itself (with U+FFFD for the bad part).
 */
export function badTextErrors(value: unknown, where: string): FieldError[] {
  const errors: FieldError[] = [];
  const isBad = (text: string) => !text.isWellFormed() || text.includes('\u0000');
  const problem = (text: string) =>
    text.isWellFormed()
      ? 'must not contain NUL characters'
      : 'must be well-formed Unicode (an unpaired surrogate)';
  const visit = (node: unknown, path: string) => {
    if (typeof node === 'string') {
      if (isBad(node)) errors.push({ field: path, message: problem(node), code: 'invalid_text' });
    } else if (Array.isArray(node)) {
      for (const [index, item] of node.entries()) visit(item, `${path}.${index}`);
    } else if (node !== null && typeof node === 'object') {
      for (const [key, item] of Object.entries(node)) {
        const field = `${path}.${key.toWellFormed()}`;
        if (isBad(key)) errors.push({ field, message: `key ${problem(key)}`, code: 'invalid_text' });
        visit(item, field);
      }
    }
  };
  visit(value, where);
  return errors;
}

const isJson = (contentType: string | undefined) =>
  /^application\/([\w.-]+\+)?json$/i.test(contentType?.split(';')[0]?.trim() ?? '');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The methods a path has among the app's routes (HEAD with GET, as Hono answers it), to tell 405 from 404. */
function allowedMethods(app: App, path: string, patterns: Map<string, RegExp>): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    if (route.method === 'ALL') continue; // middleware
    let pattern = patterns.get(route.path);
    if (!pattern) {
      const segments = route.path.split('/').map((segment) => {
        if (segment === '*') return '.*';
        const param = /^:\w+(?:\{(.+)\})?(\?)?$/.exec(segment);
        if (param) return `${param[1] ?? '[^/]+'}`;
        return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      });
      pattern = new RegExp(`^${segments.join('/')}$`);
      patterns.set(route.path, pattern);
    }
    if (pattern.test(path)) methods.add(route.method);
  }
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}

export function problemResponse(c: Context<AppEnv>, error: AppError): Response {
  const problem = buildProblem({
    code: error.code,
    detail: error.message,
    instance: c.req.path,
    requestId: c.get('requestId') ?? 'unknown',
    fieldErrors: error.fieldErrors,
  });
  // Headers set through the context keep those middleware already set (x-request-id).
  c.header('content-type', PROBLEM_CONTENT_TYPE);
  if (error.retryAfterSeconds !== undefined)
    c.header('retry-after', String(Math.ceil(error.retryAfterSeconds)));
  return c.body(JSON.stringify(problem), problem.status as ContentfulStatusCode);
}

const codeByStatus = new Map<number, ErrorCode>(
  Object.entries(problemTypes).map(([code, { status }]) => [status, code as ErrorCode]),
);
codeByStatus.set(400, 'malformed_request');

/** An HTTPException raised by Hono or a middleware, as one of our codes (its message is ours to show). */
function fromHttpException(error: HTTPException): AppError {
  const code = codeByStatus.get(error.status) ?? (error.status >= 500 ? 'internal' : 'malformed_request');
  const message =
    error.status >= 500 ? 'An unexpected error occurred.' : error.message || problemTypes[code].title;
  return new AppError(code, message);
}

/** Failed validations and input breaking the one text rule (`badTextErrors`), as problem details. */
const validationHook: NonNullable<OpenAPIHonoOptions<AppEnv>['defaultHook']> = (result, c) => {
  const where = targetNames[result.target] ?? result.target;
  // A required JSON body that is absent: the validator saw no JSON and validated `{}` instead.
  if (result.target === 'json' && !isJson(c.req.header('content-type'))) {
    const missing: FieldError = { field: 'body', message: 'a JSON body is required', code: 'required' };
    return problemResponse(
      c,
      new AppError('validation_failed', 'body: a JSON body is required', { fieldErrors: [missing] }),
    );
  }
  // On success `data` is what the route will use; on failure (untyped here) the input as sent.
  const errors = [
    ...badTextErrors((result as { data?: unknown }).data, where),
    ...(result.success ? [] : fieldErrorsOf(result.error, result.target)),
  ];
  if (errors.length === 0) return undefined;
  const summary = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  return problemResponse(
    c,
    new AppError('validation_failed', summary.toWellFormed(), { fieldErrors: errors }),
  );
};

/** Every route's document lists the answers any route with its inputs can give (400, 413, 415, 431). */
function documentPlatformProblems(app: App): void {
  const register = app.openapi;
  app.openapi = ((route, handler, hook) =>
    register(
      { ...route, responses: { ...platformProblems(route), ...route.responses } },
      handler,
      hook,
    )) as typeof register;
  app.openAPIRegistry.registerComponent('responses', 'MethodNotAllowed', methodNotAllowedResponse);
}

/** JSON is UTF-8 (RFC 8259): bytes that are not are refused, not decoded into U+FFFD. */
const strictUtf8Json: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (isJson(c.req.header('content-type'))) {
    // Read once (bodyLimit already held it to the limit); the validator then parses the cached bytes.
    const bytes = await c.req.arrayBuffer();
    try {
      strictUtf8.decode(bytes);
    } catch {
      throw new AppError('malformed_request', 'The body is not valid UTF-8.');
    }
  }
  await next();
};

/** No route matched: 405 with `Allow` when the path exists with other methods, else 404. */
function notFoundOrMethodNotAllowed(app: App): NotFoundHandler<AppEnv> {
  const patterns = new Map<string, RegExp>();
  return (c) => {
    const allowed = allowedMethods(app, c.req.path, patterns);
    if (allowed.length === 0)
      return problemResponse(c, new AppError('not_found', `No route for ${c.req.method} ${c.req.path}.`));
    c.header('allow', allowed.join(', '));
    return problemResponse(
      c,
      new AppError('method_not_allowed', `${c.req.path} answers ${allowed.join(', ')}, not ${c.req.method}.`),
    );
  };
}

/** Every error as problem details; an unexpected one is logged with the request id, not shown. */
function problemErrorHandler(logger: Logger): ErrorHandler<AppEnv> {
  return (error, c) => {
    if (error instanceof AppError) return problemResponse(c, error);
    if (error instanceof HTTPException) return problemResponse(c, fromHttpException(error));
    logger.error(
      { err: error, requestId: c.get('requestId'), method: c.req.method, path: c.req.path },
      'unhandled error in request',
    );
    return problemResponse(
      c,
      new AppError('internal', 'An unexpected error occurred; quote the request id when reporting it.'),
    );
  };
}

/**
 * The one way to make a Hono app in hookline: OpenAPI routes, a request id on every answer, a body
 * size limit, validation failures and every error answered as RFC 9457 problem details, and a 500
 * that never shows its message (it is logged with the request id instead).
 */
export function newApp(options: { logger: Logger; bodyLimitBytes: number }): App {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  documentPlatformProblems(app);

  app.use(
    // A caller's x-request-id is kept when it is short and plain ([A-Za-z0-9_=-]); otherwise a UUID.
    requestId({ headerName: 'x-request-id', limitLength: 128 }),
  );
  app.use(
    bodyLimit({
      maxSize: options.bodyLimitBytes,
      onError: () => {
        throw new AppError('payload_too_large', `The request body exceeds ${options.bodyLimitBytes} bytes.`);
      },
    }),
  );
  app.use(strictUtf8Json);

  app.notFound(notFoundOrMethodNotAllowed(app));
  app.onError(problemErrorHandler(options.logger));

  return app;
}
