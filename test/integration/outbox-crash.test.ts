import { afterAll, describe, expect, it, vi } from 'vitest';
import { createDatabase } from '../../src/db/client.js';
import { STRONG_PASSWORD } from '../helpers/api.js';
import { testConfig, uniqueSuffix } from '../helpers/env.js';
import { type EventRecorder, recordEvents } from '../helpers/events.js';
import { type SpawnedProcess, spawnProcess } from '../helpers/process.js';

const { sql, end } = createDatabase({
  url: testConfig.DATABASE_URL,
  poolSize: 2,
  applicationName: 'test-crash',
});
let recorder: EventRecorder | undefined;
let restarted: SpawnedProcess | undefined;
let relay: SpawnedProcess | undefined;
afterAll(async () => {
  await restarted?.terminate();
  await relay?.terminate();
  await recorder?.stop();
  await end({ timeout: 5 });
});

describe('the transactional outbox', () => {
  it('survives SIGKILL mid-burst: every committed user gets its event, no event exists without its user', {
    timeout: 120_000,
  }, async () => {
    recorder = await recordEvents();
    const marker = `crash${uniqueSuffix()}`;
    const ours = (e: { envelope: { type: string; data: unknown } }) =>
      e.envelope.type === 'user.registered' &&
      (e.envelope.data as { email: string }).email.startsWith(`${marker}-`);
    // All requests come from 127.0.0.1 here: lift the per-IP registration limit for the burst.
    const env = { JWT_SECRET: 'crash-test-secret-crash-test-secret-0123', REGISTER_MAX_PER_IP: '100000' };
    // The API and the outbox relay as separate processes (`start:api`, `start:relay`); the API is
    // killed. (The all-in-one process would also run delivery workers on the shared queue.)
    relay = await spawnProcess('relay', env);
    const first = await spawnProcess('api', env);

    const total = 150;
    let answered = 0;
    const killed = new Promise<void>((resolve) => {
      for (let i = 0; i < total; i++) {
        void fetch(`${first.baseUrl}/v1/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: `${marker}-${i}@example.com`, password: STRONG_PASSWORD }),
        })
          .catch(() => undefined)
          .finally(() => {
            answered += 1;
            if (answered === 40) {
              first.child.kill('SIGKILL');
              resolve();
            }
          });
      }
    });
    await killed;
    expect(await first.terminate()).toBeNull(); // killed by the signal, not exited

    const committed = (
      await sql<{ id: string }[]>`SELECT id FROM users WHERE email LIKE ${`${marker}-%`}`
    ).map((row) => row.id);
    expect(committed.length).toBeGreaterThanOrEqual(35);
    expect(committed.length).toBeLessThan(total);

    restarted = await spawnProcess('api', env);
    await recorder.waitFor(ours, { count: committed.length, timeoutMs: 30_000 });
    // Every event of the burst that can ever be published is a row of the outbox (a stray event too):
    // count once the recorder has read every one of them.
    const { events } = recorder;
    await vi.waitFor(
      async () => {
        const rows = await sql<{ id: string }[]>`
          SELECT id FROM outbox
          WHERE event_type = 'user.registered' AND payload->'data'->>'email' LIKE ${`${marker}-%`}`;
        const read = new Set(events.filter(ours).map((e) => e.envelope.id));
        expect(rows.map((row) => row.id).filter((id) => !read.has(id))).toEqual([]);
      },
      { timeout: 40_000, interval: 500 },
    );
    const seen = recorder.events.filter(ours);
    const distinctEvents = new Set(seen.map((e) => e.envelope.id));
    console.log(
      `SIGKILL mid-burst: ${committed.length} of ${total} users committed, ${distinctEvents.size} events, ${seen.length - distinctEvents.size} duplicates`,
    );
    // One event per committed user (a duplicate delivery of it is allowed, and reported above).
    expect(distinctEvents.size).toBe(committed.length);
    expect([...new Set(seen.map((e) => e.envelope.user_id))].sort()).toEqual([...committed].sort());
    // Rows the killed relay had claimed are published again once its lease ends (LEASE_SECONDS):
    // in the end, none of this burst's rows is left unpublished.
    const unpublished = async () => {
      const [row] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM outbox
        WHERE published_at IS NULL AND payload->'data'->>'email' LIKE ${`${marker}-%`}`;
      return row?.n ?? -1;
    };
    await expect.poll(unpublished, { timeout: 40_000, interval: 500 }).toBe(0);
  });
});
