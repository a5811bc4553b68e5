import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../src/redis.js';
import { FlowControl } from '../../src/webhooks/flow/flow-control.js';
import { testConfig } from '../helpers/env.js';

// The flow-control scripts on the real Redis, with a clock the test moves: every rule of
// docs/adr/0009-endpoint-isolation.md as a sentence.

const redis = createRedis(testConfig.REDIS_URL, 'command', 'test-flow');
const used: string[] = [];
let clock = 1_000_000;
const flow = new FlowControl(redis, {
  breaker: { failureThreshold: 3, cooldownMs: 1_000, maxCooldownMs: 3_000 },
  leaseMs: 5_000,
  now: () => clock,
});
const subscription = () => {
  const id = randomUUID();
  used.push(id);
  return id;
};
const unlimited = { maxInFlight: 1_000, rateLimitPerSecond: null };

afterAll(async () => {
  for (const id of used) await flow.forget(id);
  redis.disconnect();
});

describe('max_in_flight', () => {
  it('admits that many attempts at once; the next is told to park, until one is released', async () => {
    const sub = subscription();
    const limits = { maxInFlight: 2, rateLimitPerSecond: null };
    expect(await flow.acquire(sub, 'a', limits)).toEqual({ kind: 'ok', probe: false });
    expect(await flow.acquire(sub, 'b', limits)).toEqual({ kind: 'ok', probe: false });
    expect(await flow.acquire(sub, 'c', limits)).toEqual({ kind: 'in_flight' });
    await flow.release(sub, 'a', 'success', 2);
    expect(await flow.acquire(sub, 'c', limits)).toEqual({ kind: 'ok', probe: false });
  });

  it('takes back the slot of an attempt whose process died once its lease expires', async () => {
    const sub = subscription();
    const limits = { maxInFlight: 1, rateLimitPerSecond: null };
    expect((await flow.acquire(sub, 'dies', limits)).kind).toBe('ok');
    expect((await flow.acquire(sub, 'next', limits)).kind).toBe('in_flight');
    clock += 5_001;
    expect((await flow.acquire(sub, 'next', limits)).kind).toBe('ok');
  });

  it('counts a job that runs again (stalled) once: its lease is its job id', async () => {
    const sub = subscription();
    const limits = { maxInFlight: 1, rateLimitPerSecond: null };
    expect((await flow.acquire(sub, 'again', limits)).kind).toBe('ok');
    expect((await flow.acquire(sub, 'again', limits)).kind).toBe('ok');
  });
});

describe('rate_limit_per_second', () => {
  it('lets a burst of one second through, then gives each later job its own reserved slot', async () => {
    const sub = subscription();
    const limits = { maxInFlight: 100, rateLimitPerSecond: 2 };
    expect((await flow.acquire(sub, 'j1', limits)).kind).toBe('ok');
    expect((await flow.acquire(sub, 'j2', limits)).kind).toBe('ok');
    const third = await flow.acquire(sub, 'j3', limits);
    const fourth = await flow.acquire(sub, 'j4', limits);
    expect(third).toEqual({ kind: 'rate', at: clock + 500 });
    expect(fourth).toEqual({ kind: 'rate', at: clock + 1_000 });
    // At its slot the job goes, its reservation spent; a newcomer then waits behind both.
    clock += 500;
    expect((await flow.acquire(sub, 'j3', limits)).kind).toBe('ok');
    expect(await flow.acquire(sub, 'j5', limits)).toEqual({ kind: 'rate', at: clock + 1_000 });
  });
});

describe('a reserved rate slot', () => {
  it('counts only at its time: a job that comes late (it waited for a free slot) queues anew', async () => {
    const sub = subscription();
    const limits = { maxInFlight: 3, rateLimitPerSecond: 2 };
    expect((await flow.acquire(sub, 'a', limits)).kind).toBe('ok');
    expect((await flow.acquire(sub, 'b', limits)).kind).toBe('ok');
    expect(await flow.acquire(sub, 'late', limits)).toEqual({ kind: 'rate', at: clock + 500 });
    // At its time every slot is busy (an attempt of another process holds the third): it parks, and
    // loses the reservation.
    clock += 500;
    await redis.zadd(FlowControl.keys(sub)[0] ?? '', clock + 5_000, 'busy');
    expect((await flow.acquire(sub, 'late', limits)).kind).toBe('in_flight');
    for (const job of ['a', 'b', 'busy']) await flow.release(sub, job, 'success', 3);
    // Much later, the rate applies to it like to any other job: no carried-over slot.
    clock += 10_000;
    expect((await flow.acquire(sub, 'late', limits)).kind).toBe('ok');
    expect((await flow.acquire(sub, 'x', limits)).kind).toBe('ok');
    expect((await flow.acquire(sub, 'y', limits)).kind).toBe('rate');
  });
});

describe('the circuit breaker', () => {
  it('opens after the consecutive failures of its rule; a success in between starts the count again', async () => {
    const sub = subscription();
    for (const [job, verdict] of [
      ['f1', 'failure'],
      ['f2', 'failure'],
      ['s1', 'success'],
      ['f3', 'failure'],
      ['f4', 'failure'],
    ] as const) {
      await flow.acquire(sub, job, unlimited);
      expect((await flow.release(sub, job, verdict, 10)).transition).toBe('');
    }
    await flow.acquire(sub, 'f5', unlimited);
    const opened = await flow.release(sub, 'f5', 'failure', 10);
    expect(opened).toMatchObject({
      transition: 'opened',
      state: 'open',
      failures: 3,
      nextProbeAt: clock + 1_000,
    });
    expect(await flow.circuit(sub)).toEqual({
      state: 'open',
      failures: 3,
      since: clock,
      nextProbeAt: clock + 1_000,
    });
  });

  it('while open, one job waits for the probe time and the others park; neutral attempts change nothing', async () => {
    const sub = subscription();
    for (const job of ['a', 'b', 'c']) {
      await flow.acquire(sub, job, unlimited);
      await flow.release(sub, job, 'failure', 10);
    }
    const probeAt = clock + 1_000;
    expect(await flow.acquire(sub, 'w', unlimited)).toEqual({ kind: 'breaker', probeAt, park: false });
    expect(await flow.acquire(sub, 'p1', unlimited)).toEqual({ kind: 'breaker', probeAt, park: true });
    expect(await flow.admit(sub, ['p2', 'p3'], 10)).toEqual(['park', 'park']);
    expect((await flow.release(sub, 'x', 'neutral', 10)).state).toBe('open');
  });

  it('lets one probe through after the cool-down; its failure re-opens it for twice as long, capped', async () => {
    const sub = subscription();
    for (const job of ['a', 'b', 'c']) {
      await flow.acquire(sub, job, unlimited);
      await flow.release(sub, job, 'failure', 10);
    }
    await flow.park(sub, ['parked-1', 'parked-2'], 10);
    clock += 1_000;
    expect(await flow.acquire(sub, 'probe', unlimited)).toEqual({ kind: 'ok', probe: true });
    expect((await flow.circuit(sub)).state).toBe('half_open');
    // Only one probe at a time.
    expect(await flow.acquire(sub, 'other', unlimited)).toMatchObject({ kind: 'breaker', park: true });
    const reopened = await flow.release(sub, 'probe', 'failure', 10);
    // The first parked job is handed back to wait for the next probe time.
    expect(reopened).toMatchObject({ transition: 'reopened', state: 'open', nextProbeAt: clock + 2_000 });
    expect(reopened.jobIds).toEqual(['parked-1']);
    clock += 2_000;
    await flow.acquire(sub, 'probe-2', unlimited);
    expect((await flow.release(sub, 'probe-2', 'failure', 10)).nextProbeAt).toBe(clock + 3_000);
    clock += 3_000;
    await flow.acquire(sub, 'probe-3', unlimited);
    expect((await flow.release(sub, 'probe-3', 'failure', 10)).nextProbeAt).toBe(clock + 3_000);
  });

  it('closes on a successful probe and admits the parked jobs, up to the window', async () => {
    const sub = subscription();
    for (const job of ['a', 'b', 'c']) {
      await flow.acquire(sub, job, unlimited);
      await flow.release(sub, job, 'failure', 10);
    }
    await flow.park(sub, ['p1', 'p2', 'p3'], 2);
    clock += 1_000;
    expect(await flow.acquire(sub, 'probe', unlimited)).toEqual({ kind: 'ok', probe: true });
    const closed = await flow.release(sub, 'probe', 'success', 2);
    expect(closed).toMatchObject({ transition: 'closed', state: 'closed', failures: 0, nextProbeAt: null });
    expect(closed.jobIds).toEqual(['p1', 'p2']);
    expect(await flow.circuit(sub)).toEqual({
      state: 'closed',
      failures: 0,
      since: clock,
      nextProbeAt: null,
    });
  });
});

describe('admission to the ready queue', () => {
  it('admits up to the window, then parks in order; each release admits the head of the line', async () => {
    const sub = subscription();
    expect(await flow.admit(sub, ['1', '2', '3', '4'], 2)).toEqual(['ready', 'ready', 'park', 'park']);
    expect(await flow.park(sub, ['3', '4'], 2)).toEqual([]);
    // Nothing jumps the line: a newcomer parks behind 3 and 4 even once the window has room.
    expect((await flow.release(sub, '1', 'success', 2)).jobIds).toEqual(['3']);
    expect(await flow.admit(sub, ['5'], 2)).toEqual(['park']);
    await flow.park(sub, ['5'], 2);
    expect((await flow.release(sub, '2', 'success', 2)).jobIds).toEqual(['4']);
  });

  it('parks a job enqueued twice (a re-read Kafka batch) once', async () => {
    const sub = subscription();
    expect(await flow.admit(sub, ['r', 'p'], 1)).toEqual(['ready', 'park']);
    await flow.park(sub, ['p'], 1);
    expect(await flow.admit(sub, ['p'], 1)).toEqual(['park']);
    await flow.park(sub, ['p'], 1);
    expect((await flow.release(sub, 'r', 'success', 1)).jobIds).toEqual(['p']);
    // Nothing of it is left in the line to hold a place later.
    expect((await flow.release(sub, 'p', 'success', 1)).jobIds).toEqual([]);
  });

  it('admits a job enqueued twice once', async () => {
    const sub = subscription();
    expect(await flow.admit(sub, ['same'], 1)).toEqual(['ready']);
    expect(await flow.admit(sub, ['same'], 1)).toEqual(['ready']);
    expect(await flow.admit(sub, ['other'], 1)).toEqual(['park']);
  });

  it('promotes at once when a release came between the decision to park and the park', async () => {
    const sub = subscription();
    expect(await flow.admit(sub, ['a', 'b'], 1)).toEqual(['ready', 'park']);
    await flow.release(sub, 'a', 'success', 1);
    expect(await flow.park(sub, ['b'], 1)).toEqual(['b']);
  });
});
