import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/client.js';
import { STRONG_PASSWORD } from '../helpers/api.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { type EventRecorder, recordEvents } from '../helpers/events.js';
import { type SpawnedProcess, spawnProcess } from '../helpers/process.js';

const { sql } = createDatabase({ url: testConfig.DATABASE_URL, poolSize: 2, applicationName: 'test-crash' });
let recorder: EventRecorder | undefined;
let restarted: SpawnedProcess | undefined;
afterAll(async () => {
  await restarted?.terminate();
  await recorder?.stop();
  await sql.end({ timeout: 5 });
});

describe('the transactional outbox', () => {
  it('survives SIGKILL mid-burst: every committed user gets its event, no event exists without its user', async () => {
    recorder = await recordEvents();
    const marker = `crash${uniqueSuffix()}`;
    const env = { JWT_SECRET: 'crash-test-secret-crash-test-secret-0123' };
    const first = await spawnProcess('all', env);

    const total = 150;
    let answered = 0;
    const killed = new Promise<void>((resolve) => {
      const burst = Array.from({ length: total }, (_, i) =>
        fetch(`${first.baseUrl}/v1/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: `${marker}-${i}@example.com`, password: STRONG_PASSWORD }),
        })
          .then((response) => response.status)
          .catch(() => 0)
          .finally(() => {
            answered += 1;
            if (answered === 40) {
              first.child.kill('SIGKILL');
              resolve();
            }
          }),
      );
      void Promise.all(burst);
    });
    await killed;
    expect(await first.terminate()).toBeNull(); // killed by the signal, not exited

    const committed = (
      await sql<{ id: string; email: string }[]>`
      SELECT id, email FROM users WHERE email LIKE ${`${marker}-%`}`
    ).map((row) => row.id);
    expect(committed.length).toBeGreaterThanOrEqual(40 - 5);
    expect(committed.length).toBeLessThan(total);

    restarted = await spawnProcess('all', env);
    const events = await recorder.waitFor(
      (e) =>
        e.envelope.type === 'user.registered' &&
        (e.envelope.data as { email: string }).email.startsWith(`${marker}-`),
      { count: committed.length, timeoutMs: 30_000 },
    );
    // Give a late duplicate or a stray event a moment to show up before counting.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const seen = recorder.events.filter(
      (e) =>
        e.envelope.type === 'user.registered' &&
        (e.envelope.data as { email: string }).email.startsWith(`${marker}-`),
    );
    expect(events.length).toBeGreaterThanOrEqual(committed.length);
    const userIds = new Set(seen.map((e) => e.envelope.user_id));
    expect([...userIds].sort()).toEqual([...committed].sort());
    const pending =
      await sql`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL AND payload->'data'->>'email' LIKE ${`${marker}-%`}`;
    expect(pending[0]?.n).toBe(0);
  });
});
