import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// patches/kafkajs+2.2.4.patch, applied by npm's postinstall (patch-package): a kafkajs fetcher started
// as its consumer stops spun for ever on an empty answer, starving the event loop (the three-broker
// test's audit process used a core for minutes after SIGTERM and never exited). This checks the patch
// is in place wherever the project is installed: a stopped runner's fetch now fails instead of
// answering at once with nothing.

const require = createRequire(import.meta.url);
const Runner = require('kafkajs/src/consumer/runner.js') as {
  prototype: { fetch(this: unknown, nodeId: number): Promise<unknown[]> };
};

describe('kafkajs as patched', () => {
  it("fails a stopped consumer runner's fetch rather than answer it with nothing", async () => {
    const stopped = {
      running: false,
      logger: { debug: () => {} },
      consumerGroup: { groupId: 'g', memberId: 'm' },
    };
    await expect(Runner.prototype.fetch.call(stopped, 1)).rejects.toThrow('The consumer is not running');
  });
});
