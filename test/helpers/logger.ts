import { createLogger } from '../../src/logger.js';

/** A logger for tests: silent unless TEST_LOG_LEVEL asks for more. */
export const testLogger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent', process: 'test' });
