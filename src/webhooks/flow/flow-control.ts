import type { Redis } from 'ioredis';
import {
  type Admission,
  type BreakerPolicy,
  CIRCUITS_KEY,
  type Circuit,
  type CircuitState,
  type FlowLimits,
  linesKey,
  type Parked,
  parkedOf,
  type Release,
  type Verdict,
} from './model.js';
import { acquireScript, admitScript, parkScript, pumpScript, releaseScript } from './scripts.js';

/**
 * How long an admission holds a place in the ready queue until its job is taken (taking it renews
 * the place): if the job is lost (Redis data, an obliterated queue), its place comes back this soon.
 */
const ADMIT_TTL_MS = 60_000;

type FlowRedis = Redis & {
  hooklineFlowAdmit(...args: (string | number)[]): Promise<number[]>;
  hooklineFlowAcquire(...args: (string | number)[]): Promise<(string | number)[]>;
  hooklineFlowRelease(...args: (string | number)[]): Promise<(string | number)[]>;
  hooklineFlowPark(...args: (string | number)[]): Promise<string[]>;
  hooklineFlowPump(...args: (string | number)[]): Promise<(string | number)[]>;
};

/**
 * Per-subscription flow control shared by every delivery process through Redis: admission to the
 * ready queue (fairness), leases for attempts in flight, a GCRA rate limit, and the circuit breaker.
 * Each call is one atomic script on the subscription's own keys.
 */
interface Batch<I, O> {
  inputs: I[];
  waiters: { resolve: (output: O) => void; reject: (error: unknown) => void }[];
}

export class FlowControl {
  private readonly redis: FlowRedis;
  private readonly pending = new Map<string, Batch<unknown, unknown>>();

  constructor(
    redis: Redis,
    private readonly options: {
      breaker: BreakerPolicy;
      leaseMs: number;
      /** The BullMQ queue whose jobs this flow parks (its pump adds them there). */
      queueName: string;
      now?: () => number;
    },
  ) {
    for (const [name, lua] of [
      ['hooklineFlowAdmit', admitScript],
      ['hooklineFlowAcquire', acquireScript],
      ['hooklineFlowRelease', releaseScript],
      ['hooklineFlowPark', parkScript],
      ['hooklineFlowPump', pumpScript],
    ] as const) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 7, lua });
    }
    this.redis = redis as FlowRedis;
  }

  private get linesKey(): string {
    return linesKey(this.options.queueName);
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  static keys(subscriptionId: string): string[] {
    const tag = `hookline:flow:{${subscriptionId}}`;
    return [
      `${tag}:leases`,
      `${tag}:admitted`,
      `${tag}:parked`,
      `${tag}:breaker`,
      `${tag}:rate`,
      `${tag}:parked-jobs`,
      `${tag}:promoting`,
    ];
  }

  /**
   * At enqueue: which jobs go to the ready queue now ('ready'), which are parked, with no BullMQ job
   * until they are promoted ('parked'), and which wait for the breaker's probe time (the time).
   */
  async admit(
    subscriptionId: string,
    jobIds: string[],
    window: number,
  ): Promise<('ready' | 'parked' | number)[]> {
    if (jobIds.length === 0) return [];
    const out = await this.redis.hooklineFlowAdmit(
      ...FlowControl.keys(subscriptionId),
      this.now(),
      ADMIT_TTL_MS,
      window,
      ...jobIds,
    );
    const parked = out.includes(1);
    if (parked) await this.redis.zadd(this.linesKey, this.now(), subscriptionId);
    return out.map((code) => (code === 0 ? 'ready' : code === 1 ? 'parked' : Number(code)));
  }

  /** Jobs a worker has delayed in BullMQ join the parked line; returns the jobs to promote at once. */
  async park(subscriptionId: string, jobIds: string[], window: number): Promise<Parked[]> {
    if (jobIds.length === 0) return [];
    const out = await this.redis.hooklineFlowPark(
      ...FlowControl.keys(subscriptionId),
      this.now(),
      window,
      ADMIT_TTL_MS,
      ...jobIds,
    );
    await this.redis.zadd(this.linesKey, this.now(), subscriptionId);
    return parkedOf(out);
  }

  /**
   * The subscriptions that may have a line, for the pump. A subscription is listed from before its
   * first job parks until after a pump finds its line empty (see `pump`).
   */
  async lines(): Promise<string[]> {
    return this.redis.zrange(this.linesKey, 0, -1);
  }

  /**
   * Does what releases would have done for a subscription's line had none been lost (see the pump
   * script), and drops a line found empty from the list: removed first, then listed again if a job
   * parked meanwhile, so a line is never left unlisted.
   */
  async pump(subscriptionId: string, window: number, lastAllowedMs: number): Promise<Parked[]> {
    const [length, ...flat] = await this.redis.hooklineFlowPump(
      ...FlowControl.keys(subscriptionId),
      this.now(),
      window,
      ADMIT_TTL_MS,
      lastAllowedMs,
    );
    if (Number(length) === 0) {
      await this.redis.zrem(this.linesKey, subscriptionId);
      const still = await this.redis.llen(FlowControl.keys(subscriptionId)[2] ?? '');
      if (still > 0) await this.redis.zadd(this.linesKey, this.now(), subscriptionId);
    }
    return parkedOf(flat);
  }

  /**
   * These jobs taken from the line are added or promoted in BullMQ: they leave the promoting set
   * (until then the pump would hand them over again).
   */
  async confirm(subscriptionId: string, parked: readonly Parked[]): Promise<void> {
    const members = parked.map(({ jobId, parkedAt }) => `${jobId}|${parkedAt ?? 0}`);
    if (members.length > 0) await this.redis.zrem(FlowControl.keys(subscriptionId)[6] ?? '', ...members);
  }

  /** Whether a job waits in its subscription's line (so it is not lost, though BullMQ lacks it). */
  async isParked(subscriptionId: string, jobId: string): Promise<boolean> {
    return (await this.redis.hexists(FlowControl.keys(subscriptionId)[5] ?? '', jobId)) === 1;
  }

  /**
   * Before an attempt: a lease (and the rate's token), or why and until when to defer. Calls for one
   * subscription within a turn of the event loop share one script call (see `batched`).
   */
  acquire(subscriptionId: string, jobId: string, limits: FlowLimits): Promise<Admission> {
    const key = `a:${subscriptionId}:${limits.maxInFlight}:${limits.rateLimitPerSecond}`;
    return this.batched(key, jobId, (jobIds) => this.acquireAll(subscriptionId, jobIds, limits));
  }

  private async acquireAll(subscriptionId: string, jobIds: string[], limits: FlowLimits) {
    const rate = limits.rateLimitPerSecond;
    const intervalMs = rate ? 1_000 / rate : 0;
    const burst = rate ? Math.max(1, Math.ceil(rate)) : 1;
    const flat = await this.redis.hooklineFlowAcquire(
      ...FlowControl.keys(subscriptionId),
      this.now(),
      limits.maxInFlight,
      this.options.leaseMs,
      intervalMs,
      burst,
      ADMIT_TTL_MS,
      ...jobIds,
    );
    return jobIds.map((_, i): Admission => {
      const [kind, a, b] = flat.slice(i * 3, i * 3 + 3);
      if (kind === 'ok') return { kind, probe: Number(a) === 1 };
      if (kind === 'in_flight') return { kind };
      if (kind === 'breaker') return { kind, probeAt: Number(a), park: Number(b) === 1 };
      return { kind: 'rate', at: Number(a) };
    });
  }

  /**
   * After an attempt, or a job that ended without one (verdict neutral). Calls for one subscription
   * within a turn of the event loop share one script call; the parked jobs it admits are handed to
   * the last of them.
   */
  release(subscriptionId: string, jobId: string, verdict: Verdict, window: number): Promise<Release> {
    return this.batched(`r:${subscriptionId}:${window}`, { jobId, verdict }, (releases) =>
      this.releaseAll(subscriptionId, releases, window),
    );
  }

  private async releaseAll(
    subscriptionId: string,
    releases: { jobId: string; verdict: Verdict }[],
    window: number,
  ): Promise<Release[]> {
    const { breaker } = this.options;
    const flat = await this.redis.hooklineFlowRelease(
      ...FlowControl.keys(subscriptionId),
      this.now(),
      breaker.failureThreshold,
      breaker.cooldownMs,
      breaker.maxCooldownMs,
      window,
      ADMIT_TTL_MS,
      ...releases.flatMap(({ jobId, verdict }) => [jobId, verdict]),
    );
    let at = 0;
    const out = releases.map((): Release => {
      const [transition, state, failures, nextProbeAt, count] = flat.slice(at, at + 5);
      const popped = flat.slice(at + 5, at + 5 + Number(count) * 2);
      at += 5 + popped.length;
      return {
        transition: String(transition) as Release['transition'],
        state: String(state) as CircuitState,
        failures: Number(failures),
        nextProbeAt: Number(nextProbeAt) || null,
        parked: parkedOf(popped),
      };
    });
    out.at(-1)?.parked.push(...parkedOf(flat.slice(at)));
    return out;
  }

  /**
   * Runs the calls made under one key within a turn of the event loop as one: `run` gets their inputs
   * in order and gives each its result. Attempts that end together (a worker runs many at once) thus
   * cost one script call and one round trip, not one each.
   */
  private batched<I, O>(key: string, input: I, run: (inputs: I[]) => Promise<O[]>): Promise<O> {
    let batch = this.pending.get(key) as Batch<I, O> | undefined;
    if (!batch) {
      const created: Batch<I, O> = { inputs: [], waiters: [] };
      batch = created;
      this.pending.set(key, created as Batch<unknown, unknown>);
      setImmediate(() => {
        this.pending.delete(key);
        run(created.inputs).then(
          (outputs) => {
            for (const [i, waiter] of created.waiters.entries()) waiter.resolve(outputs[i] as O);
          },
          (error: unknown) => {
            for (const waiter of created.waiters) waiter.reject(error);
          },
        );
      });
    }
    batch.inputs.push(input);
    return new Promise<O>((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  /** The breaker of a subscription as stored (closed when never opened). */
  async circuit(subscriptionId: string): Promise<Circuit> {
    const raw = await this.redis.hgetall(FlowControl.keys(subscriptionId)[3] ?? '');
    const number = (value: string | undefined) => (value ? Number(value) : null);
    const state = (raw.state as CircuitState | undefined) ?? 'closed';
    return {
      state,
      failures: Number(raw.failures ?? 0),
      since: number(state === 'closed' ? raw.closed_at : raw.opened_at),
      nextProbeAt: state === 'closed' ? null : number(raw.next_probe_at),
    };
  }

  /** The subscriptions whose breaker is not closed (listed when it opened, until it closes). */
  async openCircuits(): Promise<string[]> {
    return this.redis.zrange(CIRCUITS_KEY, 0, -1);
  }

  /** Removes every key of a subscription's flow (when it is deleted). */
  async forget(subscriptionId: string): Promise<void> {
    await this.redis.del(...FlowControl.keys(subscriptionId));
    await this.redis.zrem(CIRCUITS_KEY, subscriptionId);
    await this.redis.zrem(this.linesKey, subscriptionId);
  }
}
