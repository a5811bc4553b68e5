import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The isolation test first among the chaos files: it measures latency on the shared machine, and
 * right after the fairness test (50,000 deliveries sent and deleted) the pipeline is slower for a
 * while. The other files keep vitest's order.
 */
class ChaosOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) =>
      file.moduleId.endsWith('test/chaos/isolation.test.ts') ? 0 : 1;
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

// Three projects: `unit` (pure logic, no services), `integration` (the real local stack, run in
// parallel files, each test making its own names), and `chaos` (stops and restarts stack services, or
// measures under load, so it runs alone, after the others, one file at a time). Integration files
// spend most of their time waiting on the services, so four run at once even on two cores; the chaos
// files do not (run side by side on two cores, they took longer than one after the other).
export default defineConfig({
  test: {
    maxWorkers: 4,
    sequence: { sequencer: ChaosOrder },
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
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
