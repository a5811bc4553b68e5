import { z } from 'zod';

/**
 * Every environment variable the platform reads, declared once. Each process parses the subset it
 * needs (see `processSchemas`) at boot; nothing else reads `process.env`. The README's configuration
 * reference is generated from these declarations (`npm run docs:config`) and a test keeps it in step.
 */

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = () => z.stringbool({ truthy: ['true', '1', 'yes'], falsy: ['false', '0', 'no'] });

const urlWithProtocol = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

export const sharedEnv = {
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Minimum level of the structured JSON logs written to stdout.'),
  DATABASE_URL: urlWithProtocol(['postgres:', 'postgresql:'])
    .default('postgres://hookline:hookline@127.0.0.1:5432/hookline')
    .describe('PostgreSQL connection URL.'),
  DATABASE_POOL_SIZE: int(1, 200).default(10).describe('Maximum PostgreSQL connections per process.'),
  REDIS_URL: urlWithProtocol(['redis:', 'rediss:'])
    .default('redis://127.0.0.1:6379')
    .describe('Redis connection URL (BullMQ queues, session cache, rate limits).'),
  KAFKA_BROKERS: z
    .string()
    .default('127.0.0.1:9092')
    .transform((value) =>
      value
        .split(',')
        .map((broker) => broker.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'each broker must be host:port'))
        .min(1, 'at least one broker is required'),
    )
    .describe('Comma-separated Kafka bootstrap brokers (host:port).'),
  KAFKA_CLIENT_ID: z.string().min(1).default('hookline').describe('Kafka client id prefix.'),
  KAFKA_TOPIC_PARTITIONS: int(1, 1000)
    .default(6)
    .describe('Partition count used when the platform creates its Kafka topics.'),
  KAFKA_REPLICATION_FACTOR: int(1, 10)
    .default(1)
    .describe('Replication factor used when the platform creates its Kafka topics.'),
  CLICKHOUSE_URL: urlWithProtocol(['http:', 'https:'])
    .default('http://127.0.0.1:8123')
    .describe('ClickHouse HTTP interface URL (user and password may be given in the URL).'),
  MIGRATE_ON_START: bool().default(true).describe('Apply pending database migrations when a process starts.'),
  SHUTDOWN_TIMEOUT_MS: int(1_000, 600_000)
    .default(25_000)
    .describe('How long a process may take to finish in-flight work after SIGTERM/SIGINT before it exits.'),
  READINESS_TIMEOUT_MS: int(100, 30_000)
    .default(2_000)
    .describe('Time allowed to each dependency check of `/readyz`.'),
  HOST: z.string().min(1).default('127.0.0.1').describe('Interface the HTTP server listens on.'),
  PORT: int(0, 65_535).describe(
    'HTTP port: the API and all-in-one process default to 3000; worker processes serve `/healthz`, `/readyz` and `/metrics` on their own port.',
  ),
};

export const apiEnv = {
  BODY_LIMIT_BYTES: int(1_024, 100 * 1024 * 1024)
    .default(1024 * 1024)
    .describe('Largest request body accepted; larger bodies get 413.'),
  PUBLIC_BASE_URL: urlWithProtocol(['http:', 'https:'])
    .optional()
    .describe('Public URL of the API, used as the server in the OpenAPI document.'),
};

/** All variables, for the README reference and the test that keeps it current. */
export const allEnv = { ...sharedEnv, ...apiEnv };

export type EnvName = keyof typeof allEnv;
