import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import type { Caller } from '../auth/account.js';
import { AppError, type ErrorCode, type FieldError } from '../errors.js';
import type { Logger } from '../logger.js';
import { buildProblem, PROBLEM_CONTENT_TYPE, problemTypes } from './problem.js';

/** Per-request values: the request id, and the caller once `requireAuth` has run. */
export type AppEnv = { Variables: { requestId: string; caller: Caller } };
export type App = OpenAPIHono<AppEnv>;

const targetNames: Record<string, string> = { json: 'body', form: 'body', query: 'query', param: 'path' };

/** Zod issues as field errors named after where the value came from: `body.email`, `query.limit`. */
export function fieldErrorsOf(error: ZodError, target: string): FieldError[] {
  const where = targetNames[target] ?? target;
  return error.issues.map((issue) => ({
    field: [where, ...issue.path.map(String)].join('.'),
    message: issue.message,
    code: issue.code,
  }));
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

/**
 * The one way to make a Hono app in hookline: OpenAPI routes, a request id on every answer, a body
 * size limit, validation failures and every error answered as RFC 9457 problem details, and a 500
 * that never shows its message (it is logged with the request id instead).
 */
export function newApp(options: { logger: Logger; bodyLimitBytes: number }): App {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const errors = fieldErrorsOf(result.error, result.target);
        const summary = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
        return problemResponse(c, new AppError('validation_failed', summary, { fieldErrors: errors }));
      }
      return undefined;
    },
  });

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

  app.notFound((c) =>
    problemResponse(c, new AppError('not_found', `No route for ${c.req.method} ${c.req.path}.`)),
  );

  app.onError((error, c) => {
    if (error instanceof AppError) return problemResponse(c, error);
    if (error instanceof HTTPException) return problemResponse(c, fromHttpException(error));
    options.logger.error(
      { err: error, requestId: c.get('requestId'), method: c.req.method, path: c.req.path },
      'unhandled error in request',
    );
    return problemResponse(
      c,
      new AppError('internal', 'An unexpected error occurred; quote the request id when reporting it.'),
    );
  });

  return app;
}
