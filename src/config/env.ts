import { z } from 'zod';
import { parseCidrs } from '../webhooks/delivery/ssrf.js';

/**
 * Every environment variable the platform reads, declared once. Every process parses them all at
 * boot (`configSchema` in load.ts); nothing else reads `process.env`. The README's configuration
 * reference is generated from these declarations (`npm run generate`) and a test keeps it in step.
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
  DATABASE_POOL_SIZE: int(2, 200).default(10).describe('Maximum PostgreSQL connections per process.'),
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
    .optional()
    .describe(
      'Replication factor used when the platform creates its Kafka topics; unset: 3 on a cluster of 3 brokers or more (min.insync.replicas 2), else the number of brokers.',
    ),
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

export const authEnv = {
  JWT_SECRET: z
    .string()
    .min(32, 'must be at least 32 characters')
    .optional()
    .describe(
      'HMAC key signing access tokens (HS256). Every API process must share it; when unset a random key is made at start (tokens then do not survive a restart).',
    ),
  JWT_ISSUER: z
    .string()
    .min(1)
    .default('hookline')
    .describe('`iss` of access tokens, checked on every request.'),
  JWT_AUDIENCE: z
    .string()
    .min(1)
    .default('hookline-api')
    .describe('`aud` of access tokens, checked on every request.'),
  ACCESS_TOKEN_TTL_SECONDS: int(30, 86_400).default(900).describe('Lifetime of an access token.'),
  SESSION_TTL_SECONDS: int(300, 400 * 86_400)
    .default(30 * 86_400)
    .describe('Absolute lifetime of a session (and of its refresh tokens).'),
  REFRESH_REUSE_GRACE_SECONDS: int(0, 60)
    .default(10)
    .describe(
      'A refresh token presented again within this many seconds of its use is refused without revoking the session (two tabs refreshing at once); later, reuse revokes the session.',
    ),
  SESSION_CACHE_TTL_SECONDS: int(1, 3_600)
    .default(300)
    .describe('How long a session state stays cached in Redis; revocation overwrites it at once.'),
  PASSWORD_HASH_MEMORY_KIB: int(19_456, 1_048_576)
    .default(19_456)
    .describe('argon2id memory cost in KiB (OWASP minimum 19456); hashes below it are upgraded at login.'),
  PASSWORD_HASH_ITERATIONS: int(2, 20).default(2).describe('argon2id time cost (OWASP minimum 2).'),
  LOGIN_WINDOW_SECONDS: int(10, 86_400).default(900).describe('Window of the brute-force limits on login.'),
  LOGIN_MAX_PER_IP: int(1, 100_000)
    .default(100)
    .describe('Login attempts allowed from one client IP per window, whatever the account.'),
  LOGIN_MAX_FAILURES_PER_ACCOUNT_IP: int(1, 1_000)
    .default(5)
    .describe('Failed logins allowed for one account from one IP per window.'),
  LOGIN_MAX_FAILURES_PER_ACCOUNT: int(1, 10_000)
    .default(20)
    .describe(
      'Failed logins allowed for one account from all IPs per window; past it, only IPs the user signed in from before may still try.',
    ),
  TRUST_PROXY_HOPS: int(0, 10)
    .default(0)
    .describe(
      'How many trusted proxies stand in front of the API. With N > 0 the client IP is the N-th `X-Forwarded-For` address from the right (the one the outermost trusted proxy saw); 0 uses the socket peer and ignores the header.',
    ),
  REGISTER_MAX_PER_IP: int(1, 100_000)
    .default(20)
    .describe('Registrations allowed from one client IP per LOGIN_WINDOW_SECONDS.'),
  ADMIN_EMAIL: z
    .email()
    .optional()
    .describe('With ADMIN_PASSWORD: the first admin, created or updated at start.'),
  ADMIN_PASSWORD: z
    .string()
    .min(8)
    .max(128)
    .optional()
    .describe("With ADMIN_EMAIL: the first admin's password."),
  OUTBOX_BATCH_SIZE: int(1, 10_000).default(500).describe('Outbox rows the relay publishes per Kafka batch.'),
  OUTBOX_POLL_INTERVAL_MS: int(10, 60_000)
    .default(1_000)
    .describe('Longest the relay waits between looks at the outbox (commits wake it at once).'),
  OUTBOX_RETENTION_HOURS: int(0, 24 * 365)
    .default(72)
    .describe('Published outbox rows are deleted after this many hours.'),
};

const cidrList = z
  .string()
  .default('')
  .refine((value) => {
    try {
      parseCidrs(value);
      return true;
    } catch {
      return false;
    }
  }, 'must be comma-separated CIDRs, e.g. 127.0.0.0/8,::1/128');

const secondsList = z
  .string()
  .regex(/^\s*\d+(\.\d+)?\s*(,\s*\d+(\.\d+)?\s*)*$/, 'must be comma-separated delays in seconds')
  .transform((value) => value.split(',').map((part) => Number(part.trim())));

export const webhookEnv = {
  WEBHOOK_ALLOW_HTTP: bool()
    .default(false)
    .describe('Allow `http://` subscription URLs (otherwise https is required). The demo and tests set it.'),
  WEBHOOK_ALLOWED_CIDRS: cidrList.describe(
    'Comma-separated CIDRs the SSRF guard lets deliveries reach although private or loopback (the demo and tests set 127.0.0.0/8).',
  ),
  WEBHOOK_RETRY_SCHEDULE: secondsList
    .default([0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000])
    .describe(
      'Delays in seconds before each retry after the first attempt (±20 % jitter); after the last, the delivery is dead.',
    ),
  WEBHOOK_RETRY_JITTER: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0.2)
    .describe('Jitter of retry delays, as a fraction.'),
  WEBHOOK_RETRY_AFTER_MAX_SECONDS: int(1, 86_400)
    .default(3_600)
    .describe('Longest `Retry-After` (of a 429 or 503) honoured; longer ones are clamped.'),
  WEBHOOK_TIMEOUT_MS: int(100, 120_000).default(15_000).describe('Timeout of one delivery attempt.'),
  WEBHOOK_CONNECT_TIMEOUT_MS: int(100, 120_000)
    .default(3_000)
    .describe(
      'Timeout of opening a connection to a receiver (within the attempt’s timeout): a black-holed host fails fast.',
    ),
  WEBHOOK_MAX_IN_FLIGHT: int(1, 10_000)
    .default(20)
    .describe(
      'Default `max_in_flight` of a new subscription: its attempts at once, across every delivery process.',
    ),
  WEBHOOK_BREAKER_FAILURES: int(1, 10_000)
    .default(5)
    .describe(
      'Consecutive failed attempts (not 2xx, timeouts included) that open a subscription’s circuit breaker.',
    ),
  WEBHOOK_BREAKER_COOLDOWN_SECONDS: int(1, 86_400)
    .default(10)
    .describe('How long an opened breaker waits before one probe attempt; doubled after each failed probe.'),
  WEBHOOK_BREAKER_MAX_COOLDOWN_SECONDS: int(1, 86_400)
    .default(600)
    .describe('Longest wait between two probes of an open breaker.'),
  WEBHOOK_MAX_RESPONSE_BYTES: int(0, 10 * 1024 * 1024)
    .default(64 * 1024)
    .describe('Most bytes of a receiver’s answer read; the rest is not.'),
  WEBHOOK_RESPONSE_EXCERPT_BYTES: int(0, 64 * 1024)
    .default(4_096)
    .describe('Bytes of each answer stored with the attempt.'),
  WEBHOOK_SECRETS_KEYS: z
    .string()
    .optional()
    .transform((value) =>
      (value ?? '')
        .split(',')
        .map((key) => key.trim())
        .filter(Boolean),
    )
    .refine((keys) => keys.every((key) => key.length >= 32), 'each key must be at least 32 characters')
    .refine((keys) => new Set(keys).size === keys.length, 'lists the same key twice')
    .describe(
      "Comma-separated passphrases (32+ characters each) encrypting the subscriptions' signing secrets at rest (AES-256-GCM): the first encrypts, every one decrypts. Use random keys (e.g. `openssl rand -base64 32`). To rotate: add the new key last everywhere, then move it first, run `npm run webhooks:reseal-secrets`, then drop the old one. Unset: secrets are stored in plain text.",
    ),
  WEBHOOK_SECRET_OVERLAP_SECONDS: int(0, 30 * 86_400)
    .default(86_400)
    .describe('After a secret rotation, how long the old secret still signs (both signatures are sent).'),
  WEBHOOK_DISABLE_AFTER_SECONDS: int(1, 365 * 86_400)
    .default(5 * 86_400)
    .describe('A subscription whose deliveries failed for this long with no success is disabled.'),
  WEBHOOK_RETENTION_DAYS: int(1, 3_650)
    .default(30)
    .describe(
      'Deliveries, attempts and stored payloads of events older than this are dropped, a day (one partition of each) at a time; a day still holding a delivery waiting to be sent keeps it.',
    ),
  DELIVERY_CONCURRENCY: int(1, 5_000)
    .default(200)
    .describe('Deliveries in flight per delivery worker process.'),
  DELIVERY_CONNECTIONS_PER_ORIGIN: int(1, 1_000)
    .default(64)
    .describe('Keep-alive connections per receiver origin per delivery worker process.'),
  DELIVERY_SWEEP_INTERVAL_SECONDS: int(0, 86_400)
    .default(60)
    .describe(
      'How often a delivery process re-queues deliveries overdue by 5 minutes whose queue job was lost; 0 turns its sweeper off (another delivery process must then sweep).',
    ),
  WEBHOOK_QUEUE: z
    .string()
    .min(1)
    .default('hookline-deliveries')
    .describe('BullMQ queue name of deliveries.'),
  FANOUT_GROUP_ID: z
    .string()
    .min(1)
    .default('hookline-fanout')
    .describe('Kafka consumer group of the fan-out worker.'),
};

export const auditEnv = {
  AUDIT_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier')
    .default('hookline')
    .describe('ClickHouse database of the audit log.'),
  AUDIT_GROUP_ID: z
    .string()
    .min(1)
    .default('hookline-audit')
    .describe('Kafka consumer group of the audit worker.'),
  AUDIT_BATCH_SIZE: int(1, 100_000)
    .default(5_000)
    .describe('The audit worker inserts when this many events are buffered…'),
  AUDIT_FLUSH_MS: int(10, 60_000)
    .default(200)
    .describe('…or when the oldest buffered event has waited this long.'),
  AUDIT_RETENTION_DAYS: int(1, 36_500).default(365).describe('Audit rows older than this are deleted.'),
  AUDIT_STUFFING_FAILURES: int(2, 100_000)
    .default(10)
    .describe('Credential stuffing: at least this many failed logins on one account…'),
  AUDIT_STUFFING_IPS: int(1, 10_000).default(3).describe('…from at least this many distinct IPs…'),
  AUDIT_WINDOW_SECONDS: int(10, 86_400)
    .default(600)
    .describe('…within this window (also the window of failures before a login from a new IP).'),
  AUDIT_NEW_IP_AFTER_FAILURES: int(1, 10_000)
    .default(3)
    .describe(
      'A login from an IP never seen for the user, after at least this many failures in the window, is an alert.',
    ),
  AUDIT_TRUNCATE_IP: bool()
    .default(false)
    .describe('Store IP addresses truncated (IPv4 to /24, IPv6 to /48) in the audit log.'),
};

/** All variables, for the README reference and the test that keeps it current. */
export const allEnv = { ...sharedEnv, ...apiEnv, ...authEnv, ...webhookEnv, ...auditEnv };

export type EnvName = keyof typeof allEnv;
