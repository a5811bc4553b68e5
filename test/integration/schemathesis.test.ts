import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiPlan } from '../../src/platform/plans.js';
import { type RunningProcess, runProcess } from '../../src/platform/run.js';
import { createRedis } from '../../src/redis.js';
import { createWebhookDeps } from '../../src/webhooks/context.js';
import { adminSession, signedUpUser, TEST_ADMIN_PASSWORD, uniqueEmail } from '../helpers/api.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { TEST_JWT_SECRET } from '../helpers/platform.js';

/**
 * Schemathesis (PyPI) fuzzes the running API from its own /openapi.json three times: with an admin's
 * bearer token, with a plain user's, and anonymously. No answer may be a 5xx; every answer must be one
 * the document lists for its operation, with its content type, headers and schema; a method a path does
 * not list must answer 405 with `Allow`. Seeded, so a failure replays.
 *
 * The fuzzer registers users, makes API keys and subscriptions to any URL, and queues test events.
 * None of it may reach the shared stack, so the API under test runs alone (no relay, fan-out or
 * delivery worker: nothing goes to Kafka, nothing is ever sent to a subscribed URL) on a database of
 * its own, made here and dropped afterwards, and on a Redis database of its own (rate-limit counters
 * and its delivery queue), flushed afterwards. The registration and per-IP login limits are raised so
 * that the fuzzer reaches the code behind them rather than a wall of 429s.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
const venv = process.env.PYTHON_VENV ?? `${root}.stack/venv`;
const schemathesis = `${venv}/bin/schemathesis`;

/** The Redis database (of the 16 a server has) only this file uses; the platform uses database 0. */
const FUZZ_REDIS_DB = 13;
const suffix = uniqueSuffix();
const database = `hookline_fuzz_${suffix}`;
const ADMIN_EMAIL = uniqueEmail('fuzz-admin');
const SEED = '20240611';
/** Test cases per operation and phase: enough to find the edges, small enough for well under a minute a run. */
const MAX_EXAMPLES = '30';
/**
 * The three runs together may take this long at most, a guard against a hung run: alone they take
 * about 85 s, beside the other integration files (which now run side by side on two cores) up to 120 s.
 */
const BUDGET_MS = 240_000;
const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
  'unsupported_method',
  'allow_header_conformance',
].join(',');

const withPath = (url: string, path: string) => {
  const parsed = new URL(url);
  parsed.pathname = path;
  return parsed.toString();
};
const admin = postgres(testConfig.DATABASE_URL, { max: 1, onnotice: () => {} });
let api: RunningProcess | undefined;
let baseUrl: string;
let adminToken: string;
let userToken: string;
let deadline: number;
/** Where schemathesis runs, with its configuration (no automatic sign-up: the anonymous run stays so). */
let workDir: string | undefined;

beforeAll(async () => {
  if (!existsSync(schemathesis)) {
    throw new Error(
      `schemathesis is not installed in ${venv}: run bash -c 'source scripts/lib/env.sh; pip_install schemathesis'`,
    );
  }
  workDir = mkdtempSync(`${tmpdir()}/hookline-fuzz-`);
  writeFileSync(`${workDir}/schemathesis.toml`, '[auth]\nauto-signup = false\n');
  await admin.unsafe(`CREATE DATABASE "${database}"`);
  api = await runProcess('api', (deps) => apiPlan(deps, createWebhookDeps(deps)), {
    ...process.env,
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    JWT_SECRET: TEST_JWT_SECRET,
    DATABASE_URL: withPath(testConfig.DATABASE_URL, `/${database}`),
    REDIS_URL: withPath(testConfig.REDIS_URL, `/${FUZZ_REDIS_DB}`),
    WEBHOOK_QUEUE: `fuzz-deliveries-${suffix}`,
    WEBHOOK_ALLOW_HTTP: 'true',
    ADMIN_EMAIL,
    ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
    REGISTER_MAX_PER_IP: '100000',
    LOGIN_MAX_PER_IP: '100000',
  });
  baseUrl = `http://127.0.0.1:${api.port}`;
  adminToken = (await adminSession(baseUrl, ADMIN_EMAIL)).token;
  userToken = (await signedUpUser(baseUrl, 'fuzz-user')).tokens.access_token;
  deadline = Date.now() + BUDGET_MS;
}, 120_000);

afterAll(async () => {
  await api?.stop('test finished');
  // Everything the fuzzer made (users, API keys, subscriptions, deliveries, outbox rows) goes with it.
  await admin.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await admin.end({ timeout: 5 });
  const redis = createRedis(withPath(testConfig.REDIS_URL, `/${FUZZ_REDIS_DB}`), 'command', 'fuzz-cleanup');
  await redis.flushdb();
  redis.disconnect();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
}, 60_000);

/** One schemathesis run, killed if the file's budget runs out; its exit code and report. */
function fuzz(extraArgs: string[]) {
  const args = [
    '--config-file',
    `${workDir}/schemathesis.toml`,
    'run',
    `${baseUrl}/openapi.json`,
    '--checks',
    CHECKS,
    '--max-examples',
    MAX_EXAMPLES,
    '--seed',
    SEED,
    '--phases',
    'examples,coverage,fuzzing',
    '--generation-database',
    'none',
    '--no-color',
    ...extraArgs,
  ];
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    execFile(
      schemathesis,
      args,
      {
        cwd: workDir,
        timeout: Math.max(1_000, deadline - Date.now()),
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, NO_COLOR: '1' },
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, output: `${stdout}\n${stderr}` });
      },
    );
  });
}

describe('the API under schemathesis', () => {
  // Logging out would end the session mid-run; the anonymous run covers logout.
  const signedIn = (token: string) => [
    '-H',
    `Authorization: Bearer ${token}`,
    '--exclude-path',
    '/v1/auth/logout',
  ];

  it(
    'answers every fuzzed request of an admin with a documented answer, never a 5xx',
    async () => {
      const { code, output } = await fuzz(signedIn(adminToken));
      expect(code, output).toBe(0);
    },
    BUDGET_MS,
  );

  it(
    'answers every fuzzed request of a user without a role with a documented answer, never a 5xx',
    async () => {
      const { code, output } = await fuzz(signedIn(userToken));
      expect(code, output).toBe(0);
    },
    BUDGET_MS,
  );

  it(
    'answers every fuzzed anonymous request with a documented answer, never a 5xx',
    async () => {
      const { code, output } = await fuzz([]);
      expect(code, output).toBe(0);
    },
    BUDGET_MS,
  );
});
