import { pino } from 'pino';

export type Logger = pino.Logger;

/**
 * Properties of database errors that quote the values of a statement: postgres.js's `parameters`,
 * `args` and `types` (enumerable with its `debug` option), drizzle's `params`, and PostgreSQL's
 * `detail` and `where` (`Failing row contains (…)`, `Key (email)=(…)`, a bad JSON text). A password
 * hash, an email or a whole event payload can be among them: logs get their number, never the values.
 */
const valueCarryingKeys = ['parameters', 'args', 'types', 'params', 'detail', 'where', 'internal_query'];

type ErrorLike = Error & Record<string, unknown>;
/** drizzle's `Failed query: <sql>\nparams: <values>` message, without the values. */
const withoutParams = (message: string) => message.replace(/\nparams: [\s\S]*$/, '\nparams: [redacted]');
const isErrorLike = (value: unknown): value is ErrorLike =>
  typeof value === 'object' && value !== null && typeof (value as Error).message === 'string';

/**
 * A copy of `error` (and of its causes and aggregated errors) without the values a database
 * statement carried: drizzle's `Failed query: … params: …` message loses its params, in the stack too.
 */
function withoutStatementValues(error: ErrorLike, depth = 0): ErrorLike {
  const copy = Object.create(Object.getPrototypeOf(error) as object) as ErrorLike;
  for (const key of Object.keys(error)) {
    const value = error[key];
    if (!valueCarryingKeys.includes(key)) copy[key] = value;
    else if (Array.isArray(value)) copy[key] = `[${value.length} values redacted]`;
    else if (value !== undefined && value !== null) copy[key] = '[redacted]';
  }
  const message = withoutParams(error.message);
  let stack = error.stack;
  if (stack !== undefined && message !== error.message) {
    stack = stack.includes(error.message)
      ? stack.replace(error.message, message)
      : stack
          .split('\n')
          .filter((line) => /^\s+at /.test(line))
          .join('\n');
  }
  Object.defineProperties(copy, {
    name: { value: error.name, enumerable: false, writable: true, configurable: true },
    message: { value: message, enumerable: false, writable: true, configurable: true },
    stack: { value: stack, enumerable: false, writable: true, configurable: true },
  });
  if (depth < 5 && isErrorLike(error.cause))
    Object.defineProperty(copy, 'cause', {
      value: withoutStatementValues(error.cause, depth + 1),
      enumerable: false,
      writable: true,
      configurable: true,
    });
  if (depth < 5 && Array.isArray(error.errors))
    copy.errors = error.errors.map((inner: unknown) =>
      isErrorLike(inner) ? withoutStatementValues(inner, depth + 1) : inner,
    );
  return copy;
}

/**
 * pino's error serializer, on a copy of the error without the values of a failed statement, plus the
 * fields of its cause (pino keeps only the cause's message and stack: a PostgreSQL error wrapped by
 * drizzle would lose its `code` and `constraint_name`).
 */
export function serializeError(error: unknown): unknown {
  if (!isErrorLike(error)) return error;
  const safe = withoutStatementValues(error);
  const serialized = pino.stdSerializers.err(safe) as unknown as Record<string, unknown>;
  if (isErrorLike(safe.cause)) {
    const { stack: _stack, ...cause } = serializeError(safe.cause) as Record<string, unknown>;
    serialized.cause = cause;
  }
  return serialized;
}

/**
 * `logger.error(err)` and `logger.error({ err })` take their message from the error: without the
 * values of a failed statement too.
 */
function logMethod(this: pino.Logger, args: Parameters<pino.LogFn>, method: pino.LogFn): void {
  const [first, second, ...rest] = args as unknown[];
  if (typeof second !== 'string' && typeof first === 'object' && first !== null) {
    const error = first instanceof Error ? first : (first as { err?: unknown }).err;
    if (isErrorLike(error) && (first instanceof Error || (first as { msg?: unknown }).msg === undefined)) {
      const fields = first instanceof Error ? { err: first } : first;
      const more = second === undefined ? rest : [second, ...rest];
      method.apply(this, [fields, withoutParams(error.message), ...more] as Parameters<pino.LogFn>);
      return;
    }
  }
  method.apply(this, args);
}

/**
 * Structured JSON logs on stdout (or `destination`), one logger per process, tagged with the process
 * name. Errors are logged without the values of the statement that failed (`serializeError`).
 */
export function createLogger(options: {
  level: string;
  process: string;
  destination?: pino.DestinationStream;
}): Logger {
  return pino(
    {
      level: options.level,
      base: { process: options.process },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: serializeError, error: serializeError },
      hooks: { logMethod },
      redact: {
        paths: [
          'password',
          '*.password',
          'token',
          '*.token',
          'authorization',
          '*.authorization',
          'secret',
          '*.secret',
        ],
        censor: '[redacted]',
      },
    },
    options.destination,
  );
}
