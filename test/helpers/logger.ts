import { createLogger } from '../../src/logger.js';

/** A logger for tests: silent unless TEST_LOG_LEVEL asks for more. */
export const testLogger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent', process: 'test' });

/**
 * A logger made like every process's (same serializers and redaction) that keeps what it writes, for
 * tests that check what gets logged: `lines` are the JSON lines, `text()` all of them.
 */
export function captureLogs(level = 'info') {
  const lines: string[] = [];
  const logger = createLogger({
    level,
    process: 'test',
    destination: { write: (line: string) => void lines.push(line) },
  });
  return { logger, lines, text: () => lines.join('') };
}
