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
  queueName: `test-flow-${randomUUID()}`,
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

describe('calls made together (one script call for a subscription per turn of the event loop)', () => {
  it('decide each job in order, as one after the other would', async () => {
    const sub = subscription();
    const limits = { maxInFlight: 2, rateLimitPerSecond: null };
    const admitted = await Promise.all(['a', 'b', 'c'].map((id) => flow.acquire(sub, id, limits)));
    expect(admitted.map((admission) => admission.kind)).toEqual(['ok', 'ok', 'in_flight']);
    expect(await flow.admit(sub, ['p1', 'p2', 'p3'], 2)).toEqual(['parked', 'parked', 'parked']);
    // Two releases together: the line's head fills the freed places (the window, plus as many again
    // as there are free slots: all of the line here), handed to the last caller.
    const released = await Promise.all([
      flow.release(sub, 'a', 'success', 2),
      flow.release(sub, 'b', 'failure', 2),
    ]);
    expect(released.map((release) => release.failures)).toEqual([0, 1]);
    expect(released[0]?.parked).toEqual([]);
    expect(released[1]?.parked.map((job) => job.jobId)).toEqual(['p1', 'p2', 'p3']);
  });

  it('of different subscriptions stay apart', async () => {
    const [one, two] = [subscription(), subscription()];
    const limits = { maxInFlight: 1, rateLimitPerSecond: null };
    const admitted = await Promise.all([flow.acquire(one, 'x', limits), flow.acquire(two, 'x', limits)]);
    expect(admitted.map((admission) => admission.kind)).toEqual(['ok', 'ok']);
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
    expect(await flow.admit(sub, ['p2', 'p3'], 10)).toEqual(['parked', 'parked']);
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
    expect(reopened.parked).toEqual([{ jobId: 'parked-1', parkedAt: null }]);
    clock += 2_000;
    await flow.acquire(sub, 'probe-2', unlimited);
    expect((await flow.release(sub, 'probe-2', 'failure', 10)).nextProbeAt).toBe(clock + 3_000);
    clock += 3_000;
    await flow.acquire(sub, 'probe-3', unlimited);
    expect((await flow.release(sub, 'probe-3', 'failure', 10)).nextProbeAt).toBe(clock + 3_000);
  });

  it('closes on a successful probe and admits the parked jobs, up to the window and its free slots', async () => {
    const sub = subscription();
    for (const job of ['a', 'b', 'c']) {
      await flow.acquire(sub, job, unlimited);
      await flow.release(sub, job, 'failure', 10);
    }
    await flow.park(sub, ['p1', 'p2', 'p3', 'p4', 'p5'], 2);
    clock += 1_000;
    expect(await flow.acquire(sub, 'probe', unlimited)).toEqual({ kind: 'ok', probe: true });
    const closed = await flow.release(sub, 'probe', 'success', 2);
    expect(closed).toMatchObject({ transition: 'closed', state: 'closed', failures: 0, nextProbeAt: null });
    // Window 2, no slot taken: 2 + 2.
    expect(closed.parked).toEqual([
      { jobId: 'p1', parkedAt: null },
      { jobId: 'p2', parkedAt: null },
      { jobId: 'p3', parkedAt: null },
      { jobId: 'p4', parkedAt: null },
    ]);
    expect(await flow.circuit(sub)).toEqual({
      state: 'closed',
      failures: 0,
      since: clock,
      nextProbeAt: null,
    });
  });
});

describe('admission to the ready queue', () => {
  it('admits up to the window plus its free slots, then parks in order; each release admits the head of the line', async () => {
    const sub = subscription();
    const parkedAt = clock;
    expect(await flow.admit(sub, ['1', '2', '3', '4', '5', '6'], 2)).toEqual([
      ...['ready', 'ready', 'ready', 'ready'],
      ...['parked', 'parked'],
    ]);
    // Nothing jumps the line: a newcomer parks behind 5 and 6 even once the window has room.
    clock += 10;
    expect((await flow.release(sub, '1', 'success', 2)).parked).toEqual([{ jobId: '5', parkedAt }]);
    expect(await flow.admit(sub, ['7'], 2)).toEqual(['parked']);
    expect((await flow.release(sub, '2', 'success', 2)).parked).toEqual([{ jobId: '6', parkedAt }]);
  });

  it('at its limit, a subscription gets nothing more into the ready queue; each freed slot lets in two', async () => {
    const sub = subscription();
    const limits = { maxInFlight: 2, rateLimitPerSecond: null };
    expect((await flow.acquire(sub, 'a', limits)).kind).toBe('ok');
    expect((await flow.acquire(sub, 'b', limits)).kind).toBe('ok');
    expect(await flow.admit(sub, ['p1', 'p2', 'p3'], 2)).toEqual(['parked', 'parked', 'parked']);
    // One slot free: 'b' in flight, and up to twice the free slots waiting.
    const released = await flow.release(sub, 'a', 'success', 2);
    expect(released.parked.map((job) => job.jobId)).toEqual(['p1', 'p2']);
  });

  it('parks a job enqueued twice (a re-read Kafka batch) once', async () => {
    const sub = subscription();
    expect(await flow.admit(sub, ['r', 'q', 'p'], 1)).toEqual(['ready', 'ready', 'parked']);
    expect(await flow.admit(sub, ['p'], 1)).toEqual(['parked']);
    expect((await flow.release(sub, 'r', 'success', 1)).parked).toEqual([{ jobId: 'p', parkedAt: clock }]);
    // Nothing of it is left in the line to hold a place later.
    expect((await flow.release(sub, 'p', 'success', 1)).parked).toEqual([]);
  });

  it('admits a job enqueued twice once', async () => {
    const sub = subscription();
    expect(await flow.admit(sub, ['same', 'second'], 1)).toEqual(['ready', 'ready']);
    expect(await flow.admit(sub, ['same'], 1)).toEqual(['ready']);
    expect(await flow.admit(sub, ['other'], 1)).toEqual(['parked']);
  });

  it('promotes a job a worker deferred at once when a release came between its deferral and its park', async () => {
    const sub = subscription();
    const limits = { maxInFlight: 1, rateLimitPerSecond: null };
    expect(await flow.admit(sub, ['a'], 1)).toEqual(['ready']);
    expect((await flow.acquire(sub, 'a', limits)).kind).toBe('ok');
    expect(await flow.acquire(sub, 'b', limits)).toEqual({ kind: 'in_flight' });
    await flow.release(sub, 'a', 'success', 1);
    expect(await flow.park(sub, ['b'], 1)).toEqual([{ jobId: 'b', parkedAt: null }]);
  });

  it('keeps a job parked at enqueue out of BullMQ, findable in its line until promoted', async () => {
    const sub = subscription();
    expect(await flow.admit(sub, ['in', 'also', 'waits'], 1)).toEqual(['ready', 'ready', 'parked']);
    expect(await flow.isParked(sub, 'waits')).toBe(true);
    expect(await flow.isParked(sub, 'in')).toBe(false);
    await flow.release(sub, 'in', 'success', 1);
    expect(await flow.isParked(sub, 'waits')).toBe(false);
  });
});

describe('the pump (what lost releases would have done)', () => {
  const lastAllowed = 600_000;

  it("admits the head of the line once a lost job's place has expired, and unlists an empty line", async () => {
    const sub = subscription();
    const parkedAt = clock;
    expect(await flow.admit(sub, ['lost', 'lost-too', 'next'], 1)).toEqual(['ready', 'ready', 'parked']);
    expect(await flow.lines()).toContain(sub);
    expect(await flow.pump(sub, 1, lastAllowed)).toEqual([]);
    expect(await flow.lines()).toContain(sub);
    clock += 60_001;
    expect(await flow.pump(sub, 1, lastAllowed)).toEqual([{ jobId: 'next', parkedAt }]);
    // Its BullMQ job added (as the pump component does), it is confirmed.
    await flow.confirm(sub, [{ jobId: 'next', parkedAt }]);
    expect(await flow.pump(sub, 1, lastAllowed)).toEqual([]);
    expect(await flow.lines()).not.toContain(sub);
  });

  it('hands over again a job taken from the line whose BullMQ job was never confirmed (its process died)', async () => {
    const sub = subscription();
    const parkedAt = clock;
    expect(await flow.admit(sub, ['a', 'a-too', 'b'], 1)).toEqual(['ready', 'ready', 'parked']);
    const promoted = (await flow.release(sub, 'a', 'success', 1)).parked;
    expect(promoted).toEqual([{ jobId: 'b', parkedAt }]);
    // Its process dies before adding the job: nothing confirms it.
    clock += 5_000;
    expect(await flow.pump(sub, 1, lastAllowed)).toEqual([]);
    clock += 5_001;
    expect(await flow.pump(sub, 1, lastAllowed)).toEqual([{ jobId: 'b', parkedAt }]);
    await flow.confirm(sub, promoted);
    clock += 20_000;
    expect(await flow.pump(sub, 1, lastAllowed)).toEqual([]);
    expect(await flow.lines()).not.toContain(sub);
  });

  it('hands over again a deferred job taken from the line whose promotion was never confirmed (its process died)', async () => {
    const sub = subscription();
    const limits = { maxInFlight: 1, rateLimitPerSecond: null };
    expect((await flow.acquire(sub, 'a', limits)).kind).toBe('ok');
    expect((await flow.acquire(sub, 'b', limits)).kind).toBe('in_flight');
    expect(await flow.park(sub, ['b'], 1)).toEqual([]); // delayed in BullMQ, in the line
    const promoted = (await flow.release(sub, 'a', 'success', 1)).parked;
    expect(promoted).toEqual([{ jobId: 'b', parkedAt: null }]);
    // Its process dies before promoting the delayed job: without the pump it would wait for its fallback.
    clock += 10_001;
    expect(await flow.pump(sub, 1, lastAllowed)).toEqual([{ jobId: 'b', parkedAt: null }]);
    await flow.confirm(sub, promoted);
    clock += 20_000;
    expect(await flow.pump(sub, 1, lastAllowed)).toEqual([]);
  });

  it('lets one parked job wait for a due probe no job waits for, once', async () => {
    const sub = subscription();
    for (const job of ['a', 'b', 'c']) {
      await flow.acquire(sub, job, unlimited);
      await flow.release(sub, job, 'failure', 10);
    }
    // The first job waits for the probe time; the others park. Say the waiting one was lost.
    const [waiter, ...rest] = await flow.admit(sub, ['w', 'p1', 'p2'], 10);
    expect(typeof waiter).toBe('number');
    expect(rest).toEqual(['parked', 'parked']);
    expect(await flow.pump(sub, 10, lastAllowed)).toEqual([]);
    clock += 1_000;
    // Due now, but 'w' waits for this probe time: nothing to do.
    expect(await flow.pump(sub, 10, lastAllowed)).toEqual([]);
    clock += 1_000;
    await flow.acquire(sub, 'probe', unlimited);
    await flow.release(sub, 'probe', 'neutral', 10);
    // The probe ended telling nothing, nobody waits: the pump hands the head over, once.
    const handed = await flow.pump(sub, 10, lastAllowed);
    expect(handed.map((job) => job.jobId)).toEqual(['p1']);
    expect(await flow.pump(sub, 10, lastAllowed)).toEqual([]);
  });

  it('hands over jobs parked at enqueue past their last allowed time, even behind an open breaker', async () => {
    const sub = subscription();
    for (const job of ['a', 'b', 'c']) {
      await flow.acquire(sub, job, unlimited);
      await flow.release(sub, job, 'failure', 10);
    }
    const parkedAt = clock;
    const [, ...rest] = await flow.admit(sub, ['w', 'old-1', 'old-2'], 10);
    expect(rest).toEqual(['parked', 'parked']);
    clock += 500;
    await flow.admit(sub, ['young'], 10);
    clock = parkedAt + lastAllowed;
    expect(await flow.pump(sub, 10, lastAllowed)).toEqual([
      { jobId: 'old-1', parkedAt },
      { jobId: 'old-2', parkedAt },
    ]);
    expect(await flow.isParked(sub, 'young')).toBe(true);
  });
});

describe('keys left behind', () => {
  it('a deleted subscription whose last attempts end after it went leaves no key for good', async () => {
    const sub = subscription();
    const limits = { maxInFlight: 5, rateLimitPerSecond: null };
    for (const job of ['ok', 'bad']) expect((await flow.acquire(sub, job, limits)).kind).toBe('ok');
    await flow.forget(sub);
    await flow.release(sub, 'ok', 'success', 5);
    expect(await redis.exists(...FlowControl.keys(sub))).toBe(0);
    await flow.release(sub, 'bad', 'failure', 5);
    const [leases, admitted, , breaker] = FlowControl.keys(sub);
    expect(await redis.exists(leases ?? '', admitted ?? '')).toBe(0);
    // The failure counts (the breaker's record) for a while, then goes.
    expect(await redis.pttl(breaker ?? '')).toBeGreaterThan(0);
  });

  it('sets of leases and admissions expire with their last member', async () => {
    const sub = subscription();
    expect((await flow.acquire(sub, 'a', { maxInFlight: 5, rateLimitPerSecond: null })).kind).toBe('ok');
    const [leases, admitted] = FlowControl.keys(sub);
    expect(await redis.pttl(leases ?? '')).toBeGreaterThan(0);
    expect(await redis.pttl(leases ?? '')).toBeLessThanOrEqual(5_000);
    expect(await redis.pttl(admitted ?? '')).toBeGreaterThan(0);
  });
});
