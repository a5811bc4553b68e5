import type { Redis } from 'ioredis';
import { acquireScript, admitScript, parkScript, releaseScript } from './scripts.js';

/** A subscription's limits, as the flow control needs them. */
export interface FlowLimits {
  maxInFlight: number;
  /** null: no rate limit. */
  rateLimitPerSecond: number | null;
}

/** The breaker's rule (see breakerPolicyOf in the config). */
export interface BreakerPolicy {
  /** Consecutive failed attempts that open the breaker. */
  failureThreshold: number;
  /** The first cool-down before a probe; doubled after each failed probe, up to maxCooldownMs. */
  cooldownMs: number;
  maxCooldownMs: number;
}

export type Admission =
  | { kind: 'ok'; probe: boolean }
  | { kind: 'in_flight' }
  | { kind: 'breaker'; probeAt: number; park: boolean }
  | { kind: 'rate'; at: number };

/** What an attempt says of the endpoint's health. */
export type Verdict = 'success' | 'failure' | 'neutral';

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface Release {
  transition: '' | 'opened' | 'reopened' | 'closed';
  state: CircuitState;
  failures: number;
  nextProbeAt: number | null;
  /** Parked jobs to promote now (or, after 'reopened', the one job to delay to the next probe). */
  jobIds: string[];
}

export interface Circuit {
  state: CircuitState;
  /** Consecutive failed attempts now. */
  failures: number;
  /** Since when it is in this state (ms): opened or closed; null if it never opened. */
  since: number | null;
  nextProbeAt: number | null;
}

/** A breaker that never opened. */
export const CLOSED_CIRCUIT: Circuit = { state: 'closed', failures: 0, since: null, nextProbeAt: null };

/** Subscriptions whose breaker is not closed (member: id, score: when it opened), for the metrics. */
export const CIRCUITS_KEY = 'hookline:flow:circuits';

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
};

/**
 * Per-subscription flow control shared by every delivery process through Redis: admission to the
 * ready queue (fairness), leases for attempts in flight, a GCRA rate limit, and the circuit breaker.
 * Each call is one atomic script on the subscription's own keys.
 */
export class FlowControl {
  private readonly redis: FlowRedis;

  constructor(
    redis: Redis,
    private readonly options: { breaker: BreakerPolicy; leaseMs: number; now?: () => number },
  ) {
    for (const [name, lua] of [
      ['hooklineFlowAdmit', admitScript],
      ['hooklineFlowAcquire', acquireScript],
      ['hooklineFlowRelease', releaseScript],
      ['hooklineFlowPark', parkScript],
    ] as const) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 6, lua });
    }
    this.redis = redis as FlowRedis;
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
      `${tag}:parked-set`,
    ];
  }

  /**
   * At enqueue: which jobs go to the ready queue now ('ready'), which are parked ('park': add them
   * delayed, then call park), and which wait for the breaker's probe time (a number: the time).
   */
  async admit(
    subscriptionId: string,
    jobIds: string[],
    window: number,
  ): Promise<('ready' | 'park' | number)[]> {
    if (jobIds.length === 0) return [];
    const out = await this.redis.hooklineFlowAdmit(
      ...FlowControl.keys(subscriptionId),
      this.now(),
      ADMIT_TTL_MS,
      window,
      ...jobIds,
    );
    return out.map((code) => (code === 0 ? 'ready' : code === 1 ? 'park' : Number(code)));
  }

  /** Jobs now delayed in BullMQ join the parked line; returns the ids to promote at once. */
  async park(subscriptionId: string, jobIds: string[], window: number): Promise<string[]> {
    if (jobIds.length === 0) return [];
    return this.redis.hooklineFlowPark(
      ...FlowControl.keys(subscriptionId),
      this.now(),
      window,
      ADMIT_TTL_MS,
      ...jobIds,
    );
  }

  /** Before an attempt: a lease (and the rate's token), or why and until when to defer. */
  async acquire(subscriptionId: string, jobId: string, limits: FlowLimits): Promise<Admission> {
    const rate = limits.rateLimitPerSecond;
    const intervalMs = rate ? 1_000 / rate : 0;
    const burst = rate ? Math.max(1, Math.ceil(rate)) : 1;
    const [kind, a, b] = await this.redis.hooklineFlowAcquire(
      ...FlowControl.keys(subscriptionId),
      this.now(),
      jobId,
      limits.maxInFlight,
      this.options.leaseMs,
      intervalMs,
      burst,
      ADMIT_TTL_MS,
    );
    if (kind === 'ok') return { kind, probe: Number(a) === 1 };
    if (kind === 'in_flight') return { kind };
    if (kind === 'breaker') return { kind, probeAt: Number(a), park: Number(b) === 1 };
    return { kind: 'rate', at: Number(a) };
  }

  /** After an attempt, or a job that ended without one (verdict neutral). */
  async release(subscriptionId: string, jobId: string, verdict: Verdict, window: number): Promise<Release> {
    const { breaker } = this.options;
    const [transition, state, failures, nextProbeAt, ...jobIds] = await this.redis.hooklineFlowRelease(
      ...FlowControl.keys(subscriptionId),
      this.now(),
      jobId,
      verdict,
      breaker.failureThreshold,
      breaker.cooldownMs,
      breaker.maxCooldownMs,
      window,
      ADMIT_TTL_MS,
    );
    return {
      transition: String(transition) as Release['transition'],
      state: String(state) as CircuitState,
      failures: Number(failures),
      nextProbeAt: Number(nextProbeAt) || null,
      jobIds: jobIds.map(String),
    };
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

  /** Removes every key of a subscription's flow (when it is deleted). */
  async forget(subscriptionId: string): Promise<void> {
    await this.redis.del(...FlowControl.keys(subscriptionId));
    await this.redis.zrem(CIRCUITS_KEY, subscriptionId);
  }
}
