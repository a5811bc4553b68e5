// The bench's BullMQ ceiling (scripts/bench/ceilings.ts): a worker with delivery's BullMQ options and
// concurrency, on the queue BENCH_QUEUE, whose jobs do nothing. Prints {"ready":true} once it runs;
// once it has completed BENCH_JOBS jobs it stores {"done", "last_at"} (ms since the
// epoch) under the Redis key BENCH_RESULT_KEY, one write at the end so that it adds no load meanwhile.
import { Worker } from 'bullmq';
import { loadConfig } from '../src/config/load.js';
import { createRedis } from '../src/redis.js';
import { deliveryWorkerSettings } from '../src/webhooks/delivery/worker.js';

const config = loadConfig('delivery', process.env);
const queueName = process.env.BENCH_QUEUE ?? '';
const resultKey = process.env.BENCH_RESULT_KEY ?? '';
const jobs = Number(process.env.BENCH_JOBS ?? 0);
if (!queueName || !resultKey || !(jobs > 0))
  throw new Error('BENCH_QUEUE, BENCH_RESULT_KEY and BENCH_JOBS are required');

const redis = createRedis(config.REDIS_URL, 'command', `${queueName}:result`);
let done = 0;
const worker = new Worker(queueName, async () => {}, {
  connection: createRedis(config.REDIS_URL, 'queue', `${queueName}:worker`),
  concurrency: config.DELIVERY_CONCURRENCY,
  ...deliveryWorkerSettings,
});
worker.on('completed', () => {
  done += 1;
  if (done === jobs) {
    void redis.set(resultKey, JSON.stringify({ done, last_at: Date.now() }), 'EX', 3_600);
  }
});
await worker.waitUntilReady();
console.log(JSON.stringify({ ready: true }));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void worker
      .close()
      .then(() => redis.quit())
      .finally(() => process.exit(0));
  });
}
