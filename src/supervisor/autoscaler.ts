// One app's autoscaler (SPEC §15): every period it reads the app's metrics,
// asks the pure policy (core/autoscale.ts) and scales through the app's service
// (a task on the supervisor's queue). Between decisions it samples the requests
// in flight, so that `inflight` is the period's average and not one instant.
//
// Where the numbers come from:
//   cpu       the usage sampler's per-worker CPU (`cpuSampling`, below: the one adapter)
//   rps       the app's served requests (http front, JavaScript or C, own or routing);
//             on a tcp front, accepted connections — the only requests it sees
//   inflight  requests in flight (http) or open connections (tcp, cluster)
// A worker still starting is the HPA's unready pod (core/autoscale.ts).

import {
  decide, INITIAL_STATE, type AutoscaleDecision, type AutoscaleMetric, type AutoscalePolicy, type AutoscaleState, type MetricReading,
} from '../core/autoscale.js';
import type { AutoscaleConfig } from '../core/system-types.js';
import type { AutoscaleStatus, ScaleResult, SupervisorEvent, SupervisorStatus, WorkerId } from '../core/types.js';
import type { Logger } from '../log.js';

export interface AutoscalerSources {
  /** The app's status now (workers with state, cpu, connections; desired; reloading). */
  status(): SupervisorStatus;
  /** Requests (or tcp connections) the app has served since the master started; undefined when not counted. */
  served(): number | undefined;
  /** Requests in flight (http) or open connections (tcp, cluster) of one worker. */
  inFlight(id: WorkerId, fromStatus: number | undefined): number;
  /** Ask the usage sampler for CPU samples at least every periodMs; returns the release. */
  requireSampling(periodMs: number): () => void;
  /** Scale the app (its service's queue), bypassing the `ctl scale` rule. */
  scale(workers: number): Promise<ScaleResult>;
  emit(event: SupervisorEvent): void;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** The usage sampler's interval today (system.ts); with on-demand sampling, the period. */
const SAMPLER_INTERVAL_MS = 2000;
/** How many in-flight samples a period averages. */
const INFLIGHT_SAMPLES = 5;

export class Autoscaler {
  private policy: AutoscalePolicy;
  private state: AutoscaleState = INITIAL_STATE;
  private last: AutoscaleDecision | undefined;
  private values: Partial<Record<AutoscaleMetric, number>> = {};
  private timer: NodeJS.Timeout | undefined;
  private releaseSampling: (() => void) | undefined;
  private tick = 0;
  private heldKey: string | undefined;
  private inflightSum = 0;
  private inflightSamples = 0;
  private previousServed: { count: number; atMs: number } | undefined;
  private readonly now: () => number;

  constructor(config: AutoscaleConfig, private readonly sources: AutoscalerSources) {
    this.policy = policyOf(config);
    this.now = sources.now ?? Date.now;
  }

  start(): void {
    this.stop();
    this.releaseSampling = cpuSampling(this.sources, this.policy);
    const every = this.policy.periodMs / INFLIGHT_SAMPLES;
    this.timer = setInterval(() => this.onTick(), every);
    this.timer.unref();
    this.previousServed = undefined;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.releaseSampling?.();
    this.releaseSampling = undefined;
  }

  /** New bounds, targets or windows (`ctl apply`); the recommendations so far stay. */
  reconfigure(config: AutoscaleConfig): void {
    this.policy = policyOf(config);
    this.start();
  }

  /**
   * `ctl scale` (or TTIN/TTOU) on an autoscaled app: refused outside min…max;
   * inside, it stands as a recommendation of now — a scale-up by hand holds for
   * the scale-down window, a scale-down by hand lasts until the load asks for more.
   */
  manualScale(workers: number): string | undefined {
    const { min, max } = this.policy;
    if (workers < min || workers > max) {
      return `the app is autoscaled between ${min} and ${max} workers: scale within them, or change autoscale: in the file and run supervise ctl apply`;
    }
    this.state = { recommendations: [...this.state.recommendations, { atMs: this.now(), replicas: workers }] };
    return undefined;
  }

  status(): AutoscaleStatus {
    const { min, max, targets } = this.policy;
    const metrics = Object.entries(targets).map(([metric, target]) => ({ metric, value: this.values[metric as AutoscaleMetric], target: target as number }));
    const last = this.last;
    return {
      min, max, metrics,
      ...(last === undefined ? {} : { last: { at: new Date(last.atMs).toISOString(), from: last.from, to: last.to, reason: last.reason } }),
    };
  }

  private onTick(): void {
    try {
      const status = this.sources.status();
      // A fatal app (--max-failed-starts) waits for `ctl restart`, not for more workers.
      if (status.fatal !== undefined) return;
      this.sampleInFlight(status);
      if (++this.tick % INFLIGHT_SAMPLES === 0) this.decideNow(status);
    } catch (error) {
      // A timer's exception would end the master: the autoscaler skips this period instead.
      this.sources.logger.error({ err: error }, 'autoscale: this period is skipped');
    }
  }

  private sampleInFlight(status: SupervisorStatus): void {
    if (this.policy.targets.inflight === undefined) return;
    for (const worker of status.workers) {
      if (worker.state === 'ready' || worker.state === 'draining') this.inflightSum += this.sources.inFlight(worker.id, worker.connections);
    }
    this.inflightSamples++;
  }

  private decideNow(status: SupervisorStatus): void {
    const nowMs = this.now();
    const ready = status.workers.filter((w) => w.state === 'ready');
    const unready = status.workers.filter((w) => w.state === 'starting').length;
    const readings: Partial<Record<AutoscaleMetric, MetricReading>> = {};
    const reading = (sum: number): MetricReading => ({ sum, measured: ready.length, missing: 0, unready });
    if (this.policy.targets.cpu !== undefined) {
      // A worker's first samples cover its start (the HPA's "metric point before it became ready"): missing until settled.
      const settled = ready.filter((w) => w.uptimeMs >= 2 * Math.max(this.policy.periodMs, SAMPLER_INTERVAL_MS));
      const sum = settled.reduce((total, w) => total + w.cpu, 0);
      readings.cpu = { sum, measured: settled.length, missing: ready.length - settled.length, unready };
    }
    if (this.policy.targets.rps !== undefined) {
      const served = this.sources.served();
      const previous = this.previousServed;
      if (served !== undefined) {
        if (previous !== undefined && nowMs > previous.atMs) readings.rps = reading(((served - previous.count) * 1000) / (nowMs - previous.atMs));
        this.previousServed = { count: served, atMs: nowMs };
      }
    }
    if (this.policy.targets.inflight !== undefined && this.inflightSamples > 0) {
      readings.inflight = reading(this.inflightSum / this.inflightSamples);
      this.inflightSum = 0;
      this.inflightSamples = 0;
    }
    for (const [metric, { sum, measured }] of Object.entries(readings)) {
      if (measured > 0) this.values[metric as AutoscaleMetric] = Math.round((sum / measured) * 10) / 10;
    }
    const result = decide(this.policy, this.state, { nowMs, current: status.desired, readings, reloading: status.reloading });
    this.state = result.state;
    const decision = result.decision;
    if (decision === undefined) return;
    // A decision that moves the count, or a move within the bounds that a window held back, is
    // told (once while it holds) and is the `last` of status; steady periods are neither.
    const recommended = Math.max(...decision.metrics.map((m) => m.recommendation), 0);
    const wanted = Math.min(Math.max(recommended, this.policy.min), this.policy.max);
    if (decision.to === decision.from && wanted === decision.from) {
      this.heldKey = undefined;
      return;
    }
    const key = `${decision.from}:${wanted}`;
    if (decision.to === decision.from && key === this.heldKey) return;
    this.heldKey = decision.to === decision.from ? key : undefined;
    this.last = decision;
    this.sources.emit({ type: 'autoscale', from: decision.from, to: decision.to, reason: decision.reason });
    if (decision.to === decision.from) return;
    this.sources.logger.info({ from: decision.from, to: decision.to }, `autoscale ${decision.from} → ${decision.to}: ${decision.reason}`);
    void this.sources.scale(decision.to).then((outcome) => {
      if (!outcome.ok) this.sources.logger.warn(`autoscale to ${decision.to}: ${outcome.error}`);
    });
  }
}

/**
 * The one adapter to the usage sampler, which samples only on demand: while
 * the autoscaler runs with a cpu target it requires a sample at least once per
 * period (released when it stops).
 */
function cpuSampling(sources: AutoscalerSources, policy: AutoscalePolicy): (() => void) | undefined {
  return policy.targets.cpu === undefined ? undefined : sources.requireSampling(policy.periodMs);
}

/**
 * A total that never goes down from per-worker counters that do come and go
 * (the tcp front's accepted connections per backend): each worker's growth since
 * the last reading is added; a worker seen for the first time adds all of its count.
 */
export function monotonicTotal(read: () => ReadonlyArray<readonly [WorkerId, number]>): () => number {
  let seen = new Map<WorkerId, number>();
  let total = 0;
  return () => {
    const next = new Map<WorkerId, number>();
    for (const [id, count] of read()) {
      total += Math.max(0, count - (seen.get(id) ?? 0));
      next.set(id, count);
    }
    seen = next;
    return total;
  };
}

function policyOf(config: AutoscaleConfig): AutoscalePolicy {
  const { min, max, periodMs, scaleUpWindowMs, scaleDownWindowMs } = config;
  const targets: Partial<Record<AutoscaleMetric, number>> = {};
  if (config.cpu !== undefined) targets.cpu = config.cpu;
  if (config.rps !== undefined) targets.rps = config.rps;
  if (config.inflight !== undefined) targets.inflight = config.inflight;
  return { min, max, targets, periodMs, scaleUpWindowMs, scaleDownWindowMs };
}
