// Ceilings measured in the same run as the pipeline, so that its throughput means something on a
// noisy machine: what BullMQ alone carries (jobs added in bulk with delivery's job options, processed
// by a worker with delivery's options and concurrency that does nothing), and what raw signed POSTs
// carry to the same receiver (undici, delivery's connections and concurrency, no queue, no database).
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Agent } from 'undici';
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../../src/config/load.js';
import { createRedis } from '../../src/redis.js';
import { webhookBody, webhookHeaders } from '../../src/webhooks/delivery/request.js';
import { newSigningSecret } from '../../src/webhooks/delivery/signing.js';
import { DELIVER_JOB, deliverJobOptions } from '../../src/webhooks/queue/jobs.js';
import { type Children, cpuMeter, cpuSeconds, usedBy } from './children.js';
import { profileUpdate } from './load.js';
import { statsOf, waitFor } from './receiver.js';

export interface Ceiling {
  per_second: number;
  count: number;
  seconds: number;
  /** CPU seconds of the processes doing the work during the measurement: for BullMQ the producer,
   * the worker and Redis; for HTTP the sender and the receiver. */
  cpu_seconds: Record<string, number>;
}

type CeilingConfig = Pick<
  Config,
  'REDIS_URL' | 'DELIVERY_CONCURRENCY' | 'DELIVERY_CONNECTIONS_PER_ORIGIN' | 'WEBHOOK_RETRY_SCHEDULE'
>;

const round = (value: number, digits = 2) => Number(value.toFixed(digits));

/** `jobs` no-op jobs added in batches of 1,000 (as the fan-out adds them) and run by a child worker. */
export async function bullmqCeiling(input: {
  children: Children;
  config: CeilingConfig;
  queueName: string;
  jobs: number;
}): Promise<Ceiling> {
  const { children, config, jobs } = input;
  const queueName = `${input.queueName}-ceiling`;
  const resultKey = `hookline:bench-ceiling:${queueName}`;
  const connection = createRedis(config.REDIS_URL, 'queue', `${queueName}:producer`);
  const queue = new Queue(queueName, { connection });
  const started = await children.start(
    ['scripts/bench-noop-worker.ts'],
    { BENCH_QUEUE: queueName, BENCH_RESULT_KEY: resultKey, BENCH_JOBS: String(jobs) },
    (line) => line.includes('"ready"'),
  );
  try {
    const meter = cpuMeter({
      // This process adds the jobs, as the fan-out does in the pipeline.
      producer: () => cpuSeconds(process.pid),
      worker: () => cpuSeconds(started.child.pid),
      redis: usedBy('redis-server'),
    });
    const cpuBefore = meter.snapshot();
    const startedAt = Date.now();
    for (let added = 0; added < jobs; added += 1_000) {
      const batch = Array.from({ length: Math.min(1_000, jobs - added) }, () => {
        const data = { deliveryId: uuidv7(), generation: 0 };
        return {
          name: DELIVER_JOB,
          data,
          opts: deliverJobOptions(data, config.WEBHOOK_RETRY_SCHEDULE.length),
        };
      });
      await queue.addBulk(batch);
    }
    const result = await resultOf(connection, resultKey, 300_000);
    const seconds = (result.last_at - startedAt) / 1_000;
    return {
      per_second: Math.round(result.done / seconds),
      count: result.done,
      seconds: round(seconds),
      cpu_seconds: meter.since(cpuBefore),
    };
  } finally {
    await children.stop(started.child);
    await queue.obliterate({ force: true }).catch(() => {});
    await connection.del(resultKey).catch(() => 0);
    await queue.close();
    connection.disconnect();
  }
}

async function resultOf(
  redis: ReturnType<typeof createRedis>,
  key: string,
  timeoutMs: number,
): Promise<{ done: number; last_at: number }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await redis.get(key);
    if (value) return JSON.parse(value) as { done: number; last_at: number };
    // A poll of one key every 100 ms: the worker writes it once, when it has run every job.
    await sleep(100);
  }
  throw new Error(`the BullMQ ceiling's worker did not finish its jobs within ${timeoutMs} ms`);
}

/** `requests` signed webhook POSTs of bench events to the receiver, DELIVERY_CONCURRENCY at a time. */
export async function httpCeiling(input: {
  config: CeilingConfig;
  receiverPort: number;
  /** The receiver's CPU seconds so far (its share of each POST). */
  receiverCpu: () => number;
  run: string;
  requests: number;
}): Promise<Ceiling> {
  const { config, receiverPort, run, requests } = input;
  const agent = new Agent({ connections: config.DELIVERY_CONNECTIONS_PER_ORIGIN, pipelining: 1 });
  const secrets = [newSigningSecret()];
  const origin = `http://127.0.0.1:${receiverPort}`;
  await statsOf(receiverPort, true);
  const meter = cpuMeter({ sender: () => cpuSeconds(process.pid), receiver: input.receiverCpu });
  const cpuBefore = meter.snapshot();
  const startedAt = Date.now();
  let next = 0;
  const sender = async () => {
    while (next < requests) {
      next += 1;
      const event = profileUpdate('bench', run);
      const body = webhookBody(event);
      const headers = webhookHeaders({ eventId: event.id, body, secrets, custom: {} });
      const response = await agent.request({ origin, path: '/hooks', method: 'POST', headers, body });
      await response.body.dump();
    }
  };
  await Promise.all(Array.from({ length: config.DELIVERY_CONCURRENCY }, sender));
  const seconds = (Date.now() - startedAt) / 1_000;
  const stats = await waitFor(receiverPort, requests, 10_000);
  const cpu = meter.since(cpuBefore);
  await statsOf(receiverPort, true);
  await agent.close();
  if (stats.distinct !== requests) {
    throw new Error(`the HTTP ceiling's receiver counted ${stats.distinct} of ${requests} requests`);
  }
  return {
    per_second: Math.round(requests / seconds),
    count: requests,
    seconds: round(seconds),
    cpu_seconds: cpu,
  };
}

/**
 * What a pipeline doing one BullMQ job and one signed POST per delivery, and nothing else (no
 * database, no flow control), could carry at most on this machine: its cores over the CPU seconds one
 * no-op job and one raw POST took in their ceilings (every process's and Redis's share), as if the
 * cores were shared perfectly. Beside the pipeline's throughput it says how much of the gap to the
 * BullMQ ceiling the queue and the HTTP request alone make.
 */
export function jobAndPostBound(bullmq: Ceiling, http: Ceiling, cores: number) {
  const perUnit = (ceiling: Ceiling) =>
    Object.values(ceiling.cpu_seconds).reduce((sum, cpu) => sum + cpu, 0) / ceiling.count;
  const job = perUnit(bullmq);
  const post = perUnit(http);
  return {
    cores,
    cpu_ms_per_noop_job: round(job * 1_000, 3),
    cpu_ms_per_post: round(post * 1_000, 3),
    per_second: Math.round(cores / (job + post)),
  };
}
