/**
 * Errors of the domain, with codes that know nothing of HTTP. The HTTP layer maps each code to a
 * status and an RFC 9457 problem (src/http/problem.ts); workers map them to retry decisions.
 */
export const errorCodes = [
  'malformed_request',
  'validation_failed',
  'unauthenticated',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'conflict',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'unavailable',
  'internal',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export interface FieldError {
  /** Where the bad value is: `body.email`, `query.limit`, `path.id`, `header.authorization`. */
  field: string;
  message: string;
  code?: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly fieldErrors: FieldError[] | undefined;
  /** Seconds after which a retry may succeed (rate limits, unavailable dependencies). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { fieldErrors?: FieldError[]; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.fieldErrors = options.fieldErrors;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/**
 * A validation failure naming its fields; the message lists them (`url: must use https; …`). Domain
 * verbs name fields as their input does (`url`); the HTTP layer names where they came from
 * (`body.url`, see `withFieldPrefix`).
 */
export function validationError(fieldErrors: FieldError[], cause?: unknown): AppError {
  return new AppError('validation_failed', fieldErrors.map((e) => `${e.field}: ${e.message}`).join('; '), {
    fieldErrors,
    cause,
  });
}

/** The same error with every field named under `prefix` (`body`); any other error as it is. */
export function withFieldPrefix(error: unknown, prefix: string): unknown {
  if (!(error instanceof AppError) || error.code !== 'validation_failed' || !error.fieldErrors) return error;
  return validationError(
    error.fieldErrors.map((e) => ({ ...e, field: `${prefix}.${e.field}` })),
    error.cause,
  );
}

/** Zod's issues as field errors named by their path in the input (`headers.X-Name`). */
export function issuesAsFieldErrors(
  issues: readonly { path: PropertyKey[]; message: string; code: string }[],
) {
  return issues.map((issue) => ({
    field: issue.path.map(String).join('.'),
    message: issue.message,
    code: issue.code,
  }));
}

/** `input` parsed by `schema`, or a validation error naming the fields it got wrong. */
export function parseInput<T>(
  schema: {
    safeParse(
      input: unknown,
    ):
      | { success: true; data: T }
      | { success: false; error: { issues: { path: PropertyKey[]; message: string; code: string }[] } };
  },
  input: unknown,
): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw validationError(issuesAsFieldErrors(parsed.error.issues));
}
