import { defineConfig } from 'vitest/config';
// Seven projects: `unit` (pure logic, no services), `service` (the domain verbs called without HTTP,
// on the real PostgreSQL and Redis), `integration` (the real local stack, run in parallel files, each
// test making its own names), `chaos` (stops and restarts stack services, or
// measures under load, so it runs alone, after the others, one file at a time), `browser` (the console
// in Chromium, alone for the same reason as chaos), `cluster` (a three-broker Kafka of its own, alone;
// `npm run test:cluster`, not yet in `npm test`: ADR 13), and `isolation`, the
// one test that compares latencies: `npm test` runs it first, on a machine nothing else loads yet
// (after the fairness test or the integration files, the shared services were measurably slower for a
// while, and on two cores that decided its figure more than the code did). Integration files
// spend most of their time waiting on the services, so four run at once even on two cores; the chaos
// files do not (run side by side on two cores, they took longer than one after the other).
export default defineConfig({
  test: {
    maxWorkers: 4,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'service',
          include: ['test/service/**/*.test.ts'],
          environment: 'node',
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          exclude: ['test/chaos/isolation.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          // The console in a real browser: its platform runs fan-out and delivery workers, which match
          // every subscription in the shared table, so it runs on its own, like the chaos files.
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 90_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          // A three-broker Kafka cluster of its own (scripts/stack/kafka-cluster.sh), started and removed
          // by its file: three more JVMs, so it runs alone.
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          environment: 'node',
          testTimeout: 420_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'isolation',
          include: ['test/chaos/isolation.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
