// The flow control's vocabulary: limits, admissions, verdicts, circuits, and its Redis keys.

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

export const circuitStates = ['closed', 'open', 'half_open'] as const;
export type CircuitState = (typeof circuitStates)[number];

/**
 * A parked job taken from its line: `parkedAt` null when its BullMQ job is delayed (promote it), else
 * when it was parked at enqueue, with no BullMQ job yet (add it, created at that time).
 */
export interface Parked {
  jobId: string;
  parkedAt: number | null;
}

/** The scripts' flat (id, where) pairs as parked jobs. */
export function parkedOf(flat: readonly (string | number)[]): Parked[] {
  const out: Parked[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const parkedAt = Number(flat[i + 1]);
    out.push({ jobId: String(flat[i]), parkedAt: parkedAt > 0 ? parkedAt : null });
  }
  return out;
}

export interface Release {
  transition: '' | 'opened' | 'reopened' | 'closed';
  state: CircuitState;
  failures: number;
  nextProbeAt: number | null;
  /** Parked jobs to promote now (or, after 'reopened', the one job to delay to the next probe). */
  parked: Parked[];
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
 * Subscriptions that may have jobs parked for a queue (member: id, score: when it last parked one),
 * for that queue's pump.
 */
export const linesKey = (queueName: string) => `hookline:flow:lines:${queueName}`;
