import { Kafka, type logCreator, logLevel } from 'kafkajs';
import type { Logger } from '../logger.js';

const levels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** kafkajs logs through the process's pino logger (JSON, one line per entry). */
function pinoLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level, log }) => {
      const { message, ...extra } = log;
      child[levels[level] ?? 'info'](extra, message);
    };
}

/**
 * A Kafka client. `probe: true` makes one for health checks: no retries, short timeouts and no
 * logging, so that a check answers quickly and a down broker is reported by `/readyz`, not by noise.
 */
export function createKafka(options: {
  brokers: string[];
  clientId: string;
  logger: Logger;
  probe?: boolean;
}): Kafka {
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: options.probe ? logLevel.NOTHING : logLevel.WARN,
    logCreator: pinoLogCreator(options.logger),
    connectionTimeout: options.probe ? 1_000 : 3_000,
    requestTimeout: options.probe ? 2_000 : 30_000,
    retry: options.probe ? { retries: 0 } : { initialRetryTime: 300, retries: 8, maxRetryTime: 10_000 },
  });
}
