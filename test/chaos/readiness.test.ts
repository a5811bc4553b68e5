import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type SpawnedProcess, spawnProcess } from '../helpers/process.js';

const run = promisify(execFile);
const stackScript = fileURLToPath(new URL('../../scripts/stack.sh', import.meta.url));
const stack = (command: 'up' | 'down', service: string) =>
  run('bash', [stackScript, command, service], { timeout: 150_000 });

interface ReadyBody {
  status: string;
  down: string[];
}

async function readiness(api: SpawnedProcess): Promise<{ status: number; body: ReadyBody }> {
  const response = await fetch(`${api.baseUrl}/readyz`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as ReadyBody };
}

// Stops real services of the local stack one at a time, so it runs alone (the `chaos` project).
describe('readiness follows the real dependencies', () => {
  let api: SpawnedProcess;
  beforeAll(async () => {
    api = await spawnProcess('api');
  });
  afterAll(async () => {
    await api?.terminate('SIGKILL');
    // Whatever happened, leave the whole stack up for what runs next.
    await run('bash', [stackScript, 'up'], { timeout: 300_000 });
  });

  it.each(['redis', 'postgres', 'kafka'])(
    'answers 503 naming %s while it is stopped, and recovers by itself when it is back',
    async (service) => {
      expect((await readiness(api)).status).toBe(200);

      await stack('down', service);
      await eventually(
        async () => {
          const { status, body } = await readiness(api);
          return status === 503 && body.status === 'not_ready' && body.down.join() === service;
        },
        30_000,
        `/readyz to report ${service} down`,
      );

      await stack('up', service);
      await eventually(
        async () => (await readiness(api)).status === 200,
        60_000,
        `/readyz to recover from ${service}`,
      );
      expect(api.child.exitCode).toBeNull();
    },
  );
});
