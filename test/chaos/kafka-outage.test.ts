import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { apiClient, STRONG_PASSWORD } from '../helpers/api.js';
import { uniqueSuffix } from '../helpers/env.js';
import { currentOffsets, type EventRecorder, recordEvents } from '../helpers/events.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';

const run = promisify(execFile);
const stackScript = fileURLToPath(new URL('../../scripts/stack.sh', import.meta.url));

let platform: TestPlatform | undefined;
let recorder: EventRecorder | undefined;
afterAll(async () => {
  await recorder?.stop();
  await platform?.stop();
  await run('bash', [stackScript, 'up', 'kafka'], { timeout: 150_000 });
});

describe('Kafka down', () => {
  it('the API keeps working, and every event reaches Kafka once it is back', async () => {
    platform = await startPlatform();
    const from = await currentOffsets();
    await run('bash', [stackScript, 'down', 'kafka'], { timeout: 90_000 });

    const marker = `outage${uniqueSuffix()}`;
    const users = 200;
    const statuses: number[] = [];
    const baseUrl = platform.baseUrl;
    // 200 users register and log in while the broker is down, 20 at a time.
    for (let start = 0; start < users; start += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, async (_, offset) => {
          const client = apiClient(baseUrl);
          const email = `${marker}-${start + offset}@example.com`;
          const registered = await client.call('POST', '/v1/auth/register', {
            body: { email, password: STRONG_PASSWORD },
          });
          const login = await client.call('POST', '/v1/auth/login', {
            body: { email, password: STRONG_PASSWORD },
          });
          return [registered.status, login.status];
        }),
      );
      statuses.push(...batch.flat());
    }
    expect(statuses.filter((status) => status !== 201 && status !== 200)).toEqual([]);

    await run('bash', [stackScript, 'up', 'kafka'], { timeout: 150_000 });
    recorder = await recordEvents(undefined, { from });
    const ours = (event: { envelope: { type: string; data: unknown } }) =>
      (event.envelope.type === 'user.registered' || event.envelope.type === 'user.login') &&
      (event.envelope.data as { email: string }).email.startsWith(`${marker}-`);
    const found = await recorder.waitFor(ours, { count: users * 2, timeoutMs: 90_000 });

    const distinct = new Set(found.map((event) => event.envelope.id));
    const duplicates = found.length - distinct.size;
    console.log(
      `Kafka outage: ${distinct.size} distinct events for ${users} users, ${duplicates} duplicates`,
    );
    expect(distinct.size).toBe(users * 2);
    for (const type of ['user.registered', 'user.login']) {
      const emails = new Set(
        found
          .filter((e) => e.envelope.type === type)
          .map((e) => (e.envelope.data as { email: string }).email),
      );
      expect(emails.size, type).toBe(users);
    }
  });
});
