import { z } from '@hono/zod-openapi';
import type { ErrorCode, FieldError } from '../errors.js';

/** HTTP status and title of each error code: the one place codes meet HTTP. */
export const problemTypes: Record<ErrorCode, { status: number; title: string }> = {
  malformed_request: { status: 400, title: 'Malformed request' },
  validation_failed: { status: 400, title: 'Request validation failed' },
  unauthenticated: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  rate_limited: { status: 429, title: 'Too many requests' },
  unavailable: { status: 503, title: 'Service unavailable' },
  internal: { status: 500, title: 'Internal server error' },
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** `type` URIs are relative references to docs/problems.md anchors, stable per code. */
export const problemTypeUri = (code: ErrorCode) => `/problems/${code.replaceAll('_', '-')}`;

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: '/problems/validation-failed' }),
    title: z.string().openapi({ example: 'Request validation failed' }),
    status: z.number().int().openapi({ example: 400 }),
    detail: z.string().optional(),
    instance: z.string().optional().openapi({ description: 'The request path.' }),
    code: z.string().openapi({ description: 'Machine-readable error code.', example: 'validation_failed' }),
    request_id: z.string().openapi({ description: 'Quote it when reporting a problem.' }),
    errors: z
      .array(z.object({ field: z.string(), message: z.string(), code: z.string().optional() }))
      .optional()
      .openapi({ description: 'Field errors of a failed validation.' }),
  })
  .openapi('Problem');

export type Problem = z.infer<typeof ProblemSchema>;

export function buildProblem(input: {
  code: ErrorCode;
  detail?: string | undefined;
  instance: string;
  requestId: string;
  fieldErrors?: FieldError[] | undefined;
}): Problem {
  const { status, title } = problemTypes[input.code];
  return {
    type: problemTypeUri(input.code),
    title,
    status,
    ...(input.detail ? { detail: input.detail } : {}),
    instance: input.instance,
    code: input.code,
    request_id: input.requestId,
    ...(input.fieldErrors?.length ? { errors: input.fieldErrors } : {}),
  };
}

/** Shared OpenAPI response entry for problem answers. */
export const problemResponse = (description: string) => ({
  description,
  content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
});

const problemDescriptions: Record<number, string> = {
  400: 'Malformed JSON, text that is not well-formed Unicode or contains NUL, or invalid fields (each named in `errors`).',
  401: 'Missing, invalid or expired credentials, or an ended session.',
  403: 'The caller lacks the role or scope this needs.',
  404: 'No such resource (or not the caller’s).',
  405: 'The path exists, but not with this method; `Allow` lists the methods it has.',
  409: 'Conflicts with the current state.',
  413: 'The body is too large.',
  415: 'The body is not JSON.',
  429: 'Too many attempts; see `Retry-After`.',
  503: 'A dependency is down; try again later.',
};

const headerEntries: Partial<
  Record<number, Record<string, { description: string; required: boolean; schema: object }>>
> = {
  405: { Allow: { description: 'The methods the path has.', required: true, schema: { type: 'string' } } },
  429: {
    'Retry-After': {
      description: 'Seconds after which a new attempt may succeed.',
      required: true,
      schema: { type: 'integer', minimum: 1 },
    },
  },
};

/**
 * The 405 every path gives for a method it does not list. OpenAPI has no operation to hang it on, so it
 * is documented once, as a reusable response of the document's components.
 */
export const methodNotAllowedResponse = {
  description:
    'Any path of this API called with a method it does not list answers 405, with an `Allow` header naming the methods it has.',
  headers: headerEntries[405],
  content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } },
};

/** OpenAPI entries for the problem answers a route can give. */
export function problems(...statuses: (keyof typeof problemDescriptions)[]) {
  return Object.fromEntries(
    statuses.map((status) => {
      const headers = headerEntries[status];
      const entry = problemResponse(problemDescriptions[status] ?? 'Problem.');
      return [status, headers ? { ...entry, headers } : entry];
    }),
  ) as Record<number, ReturnType<typeof problemResponse>>;
}

/**
 * The answers every route can give whatever it does, by what it takes: a route with a path, query or
 * body can answer 400, one with a body also 413 and 415; one with credentials 431 when the request's
 * headers (a bearer token of any length) exceed the HTTP server's limit, answered by Node's HTTP parser
 * before the app, without a body. newApp adds them to each route's document, so no route can forget them.
 */
export function platformProblems(route: {
  request?: { body?: unknown; params?: unknown; query?: unknown } | undefined;
  security?: unknown[] | undefined;
}) {
  const { request } = route;
  const statuses: (keyof typeof problemDescriptions)[] = request?.body
    ? [400, 413, 415]
    : request?.params || request?.query
      ? [400]
      : [];
  return {
    ...problems(...statuses),
    ...(route.security?.length
      ? {
          431: {
            description: 'The request headers exceed the HTTP server’s limit (16 KiB by default); no body.',
          },
        }
      : {}),
  };
}
