// The autoscaler's decision (SPEC §15), the Kubernetes HorizontalPodAutoscaler's
// algorithm as its documentation states it (and as `replica_calculator.go` and
// `horizontal.go` compute it). Pure: measurements and the time come in, a
// decision and the next state go out; no I/O, no clock.
//
//   desired = ceil(current × value / target)   per metric; none within 10 % of 1.0
//   several metrics: the largest recommendation
//   workers still starting: the HPA's unready pods (left out of the average;
//     counted as 0 when the others would scale up, which damps the step);
//   ready workers without a measurement: the HPA's missing pods (counted as the
//     target when scaling down, as 0 when scaling up)
//   stabilization: up → the lowest recommendation of the scale-up window (0 s),
//     down → the highest of the scale-down window (300 s)
//   rate: the HPA's default policies — up by at most max(100 %, 4 workers) per
//     period, down by up to 100 % per period
//   then min…max; no decision at all while a rolling reload runs.

export const AUTOSCALE_METRICS = ['cpu', 'rps', 'inflight'] as const;
export type AutoscaleMetric = (typeof AUTOSCALE_METRICS)[number];

/** The HPA's `--horizontal-pod-autoscaler-tolerance` default. */
export const TOLERANCE = 0.1;
/** The HPA's default scale-up policies: +100 % or +4 pods per period, whichever is more. */
export const SCALE_UP_PERCENT = 100;
export const SCALE_UP_PODS = 4;

export interface AutoscalePolicy {
  readonly min: number;
  readonly max: number;
  /** Per-worker targets; at least one. cpu: % of one core; rps: requests/s; inflight: requests in flight. */
  readonly targets: Readonly<Partial<Record<AutoscaleMetric, number>>>;
  readonly periodMs: number;
  readonly scaleUpWindowMs: number;
  readonly scaleDownWindowMs: number;
}

/**
 * One metric measured over the workers: the sum over the `measured` ready
 * workers, the ready workers with no measurement yet, and the starting ones.
 */
export interface MetricReading {
  readonly sum: number;
  readonly measured: number;
  readonly missing: number;
  readonly unready: number;
}

export interface AutoscaleInput {
  readonly nowMs: number;
  /** The app's desired worker count now. */
  readonly current: number;
  readonly readings: Readonly<Partial<Record<AutoscaleMetric, MetricReading>>>;
  /** A rolling reload is running: the decision waits. */
  readonly reloading: boolean;
}

export interface MetricVerdict {
  readonly metric: AutoscaleMetric;
  /** Average per measured worker (the value `status` shows). */
  readonly value: number;
  readonly target: number;
  /** This metric's replica count (the current one inside the tolerance). */
  readonly recommendation: number;
}

export interface AutoscaleDecision {
  readonly atMs: number;
  readonly from: number;
  readonly to: number;
  /** One line a user reads: which metric, its value and target, and what limited the step. */
  readonly reason: string;
  readonly metrics: readonly MetricVerdict[];
}

interface Recommendation {
  readonly atMs: number;
  readonly replicas: number;
}

export interface AutoscaleState {
  /** Raw recommendations within the longer window, oldest first. */
  readonly recommendations: readonly Recommendation[];
}

export const INITIAL_STATE: AutoscaleState = { recommendations: [] };

/** |1 − ratio| ≤ 10 %, inclusive (an epsilon keeps 440/400 = 1.1000000000000001 inside, as a user reads it). */
function withinTolerance(ratio: number): boolean {
  return Math.abs(1 - ratio) <= TOLERANCE + 1e-9;
}

/** One metric's recommendation (replica_calculator.go's calcPlainMetricReplicas). */
export function recommend(current: number, reading: MetricReading, target: number): number | undefined {
  const { sum, measured, missing, unready } = reading;
  if (measured === 0) return undefined;
  const ratio = sum / measured / target;
  if (missing === 0 && unready === 0) {
    return withinTolerance(ratio) ? current : Math.ceil(ratio * measured);
  }
  let total = sum;
  let count = measured + missing;
  // Missing measurements pull towards "no change": the target when scaling down, 0 when up.
  if (ratio < 1) total += missing * target;
  // Starting workers weigh in only to damp a scale-up.
  if (ratio > 1 && unready > 0) count += unready;
  const newRatio = total / count / target;
  if (withinTolerance(newRatio) || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1)) return current;
  const replicas = Math.ceil(newRatio * count);
  if ((newRatio < 1 && replicas > current) || (newRatio > 1 && replicas < current)) return current;
  return replicas;
}

/** The next decision and state; a decision with `to === from` when nothing changes. Undefined: no decision (reload, or no measurement). */
export function decide(policy: AutoscalePolicy, state: AutoscaleState, input: AutoscaleInput): { state: AutoscaleState; decision: AutoscaleDecision | undefined } {
  const { current, nowMs } = input;
  if (input.reloading) return { state, decision: undefined };
  const metrics: MetricVerdict[] = [];
  for (const metric of AUTOSCALE_METRICS) {
    const target = policy.targets[metric];
    const reading = input.readings[metric];
    if (target === undefined || reading === undefined) continue;
    const recommendation = recommend(current, reading, target);
    if (recommendation !== undefined) metrics.push({ metric, value: reading.sum / reading.measured, target, recommendation });
  }
  const decision = (to: number, reason: string): AutoscaleDecision => ({ atMs: nowMs, from: current, to, reason, metrics });
  // Out of bounds (a first decision, or new bounds): the HPA moves to the bound at once.
  if (current > policy.max) return { state, decision: decision(policy.max, `above max ${policy.max}`) };
  if (current < policy.min) return { state, decision: decision(policy.min, `below min ${policy.min}`) };
  if (metrics.length === 0) return { state, decision: undefined };

  const leading = metrics.reduce((best, each) => (each.recommendation > best.recommendation ? each : best));
  const raw = leading.recommendation;
  const longest = Math.max(policy.scaleUpWindowMs, policy.scaleDownWindowMs);
  const recommendations = [...state.recommendations.filter((r) => r.atMs > nowMs - longest), { atMs: nowMs, replicas: raw }];
  const next = { recommendations };

  // Stabilization (horizontal.go's stabilizeRecommendationWithBehaviors).
  let upFloor = raw;
  let downCeiling = raw;
  for (const r of recommendations) {
    if (r.atMs > nowMs - policy.scaleUpWindowMs) upFloor = Math.min(upFloor, r.replicas);
    if (r.atMs > nowMs - policy.scaleDownWindowMs) downCeiling = Math.max(downCeiling, r.replicas);
  }
  let to = Math.min(Math.max(current, upFloor), downCeiling);
  const notes: string[] = [];
  if (raw < current && to > raw) notes.push(`held at ${to} by the scale-down window (${seconds(policy.scaleDownWindowMs)})`);
  if (raw > current && to < raw) notes.push(`held at ${to} by the scale-up window (${seconds(policy.scaleUpWindowMs)})`);

  // Rate: the default scale-up policies; scaling down by 100 % per period is no limit.
  const upLimit = Math.max(Math.ceil(current * (1 + SCALE_UP_PERCENT / 100)), current + SCALE_UP_PODS);
  if (to > upLimit) {
    to = upLimit;
    notes.push(`limited to ${upLimit} (at most +${SCALE_UP_PERCENT} % or +${SCALE_UP_PODS} per period)`);
  }
  if (to > policy.max) {
    to = policy.max;
    notes.push(`capped at max ${policy.max}`);
  } else if (to < policy.min) {
    to = policy.min;
    notes.push(`kept at min ${policy.min}`);
  }
  const what = `${leading.metric} ${round(leading.value)}${unit(leading.metric)} for target ${leading.target}${unit(leading.metric)}`;
  return { state: next, decision: decision(to, [`${what}: recommends ${raw}`, ...notes].join('; ')) };
}

function unit(metric: AutoscaleMetric): string {
  return metric === 'cpu' ? ' %' : metric === 'rps' ? ' req/s' : ' in flight';
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function seconds(ms: number): string {
  return `${ms / 1000}s`;
}
