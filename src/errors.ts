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
