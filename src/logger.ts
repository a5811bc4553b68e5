import { pino } from 'pino';

export type Logger = pino.Logger;

/** Structured JSON logs on stdout, one logger per process, tagged with the process name. */
export function createLogger(options: { level: string; process: string }): Logger {
  return pino({
    level: options.level,
    base: { process: options.process },
    timestamp: pino.stdTimeFunctions.isoTime,
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
  });
}
