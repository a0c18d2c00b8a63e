// Active health checks of ready workers. One interval timer drives every
// target: it ticks SLICES times per interval and probes the targets whose turn
// has come — each target once per interval, its first turn at a random point of
// the first interval, so that a thousand workers ready at once are not probed in
// one burst that stalls the event loop. Results go through each target's
// rise/fall tracker, and only state changes are reported. A probe still running
// from an earlier turn is not started again, so a hung worker never piles up
// sockets. No AbortController per probe (it cost as much as the connect): the
// result of a probe whose target was unwatched is dropped, and its socket ends
// at the connect or the time limit. TCP probes of one tick go to the native
// batch probe in one call where the addon is there (native-probe.ts).

import { createHealthTracker, type HealthTracker } from '../core/health-tracker.js';
import type { HealthConfig, WorkerId } from '../core/types.js';
import { makeBatchProbe, type BatchProbe } from './native-probe.js';
import { makeProbe, type PortProbe, type ProbeResult } from './probe.js';

export interface HealthCheckerOptions {
  readonly health: HealthConfig;
  /** Host the workers listen on. */
  readonly host: string;
  /** A target left (`healthy=false`) or re-entered (`healthy=true`) rotation. */
  onChange(id: WorkerId, healthy: boolean, reason: string): void;
  /** Every failed probe and passive failure, for metrics and debug logs. */
  onFailure?(id: WorkerId, reason: string): void;
  /** The target has been out of rotation longer than `unhealthyLimitMs`; reported once per outage. */
  onUnhealthyTooLong?(id: WorkerId): void;
  readonly unhealthyLimitMs: number;
  /** Replaces the configured probe (tests); no batch probe then. */
  readonly probe?: PortProbe;
  /** Clock (tests). */
  readonly now?: () => number;
}

export interface HealthChecker {
  /** Start probing a ready worker (or a remote server at `host`); it starts healthy. Watching a known id again replaces its port and history. */
  watch(id: WorkerId, port: number, host?: string): void;
  /** Stop probing (the worker is draining or gone); the result of a probe in flight is ignored. */
  unwatch(id: WorkerId): void;
  /** The front failed to connect: eject at once (see HealthTracker.failNow). */
  passiveFailure(id: WorkerId, reason: string): void;
  /** Whether a watched target is in rotation; undefined for an unknown id. */
  isHealthy(id: WorkerId): boolean | undefined;
  /** Stop the timer; results of probes in flight are ignored. */
  close(): void;
}

/** Ticks per interval: the probes of one interval are spread over this many. */
const SLICES = 8;

interface Target {
  readonly port: number;
  /** Undefined: the checker's host. */
  readonly host: string | undefined;
  readonly tracker: HealthTracker;
  /** Set while a probe runs: the token of that probe (a result with another token is dropped). */
  inFlight: object | undefined;
  /** When its next probe is due (Date.now() ms). */
  due: number;
  /** onUnhealthyTooLong fired for the current outage. */
  reportedTooLong: boolean;
}

/** Callbacks run synchronously and must not throw (they should only enqueue events). */
export function createHealthChecker(options: HealthCheckerOptions): HealthChecker {
  const { health, unhealthyLimitMs } = options;
  const probe = options.probe ?? makeProbe(health, options.host);
  const batchProbe: BatchProbe | undefined = options.probe === undefined ? makeBatchProbe(health) : undefined;
  const now = options.now ?? Date.now;
  const thresholds = { healthyThreshold: health.healthyThreshold, unhealthyThreshold: health.unhealthyThreshold };
  const targets = new Map<WorkerId, Target>();
  let timer: NodeJS.Timeout | undefined;

  function startTimer(): void {
    if (timer !== undefined) return;
    timer = setInterval(probeDue, Math.max(1, Math.floor(health.intervalMs / SLICES)));
    // Probing alone must not keep a stopping supervisor alive.
    timer.unref();
  }

  function stopTimerWhenIdle(): void {
    if (targets.size > 0 || timer === undefined) return;
    clearInterval(timer);
    timer = undefined;
  }

  function probeDue(): void {
    const clock = Date.now();
    const due: Array<[WorkerId, Target]> = [];
    for (const [id, target] of targets) {
      checkOutageLength(id, target);
      if (target.inFlight !== undefined || clock < target.due) continue;
      // Each target keeps its place in the interval; one far behind (a stalled loop) starts afresh.
      target.due = clock - target.due < health.intervalMs ? target.due + health.intervalMs : clock + health.intervalMs;
      if (batchProbe === undefined) startProbe(id, target);
      else due.push([id, target]);
    }
    if (due.length > 0 && batchProbe !== undefined) startBatch(batchProbe, due);
  }

  function startBatch(batch: BatchProbe, due: ReadonlyArray<[WorkerId, Target]>): void {
    const token = {};
    for (const [, target] of due) target.inFlight = token;
    void batch(due.map(([, target]) => ({ port: target.port, host: target.host ?? options.host }))).then(
      (results) => due.forEach(([id, target], index) => settle(id, target, token, results[index] ?? { ok: false, reason: 'no result' })),
      (error: unknown) => due.forEach(([id, target]) => settle(id, target, token, { ok: false, reason: error instanceof Error ? error.message : String(error) })),
    );
  }

  /** A probe's result, unless its target was unwatched, re-watched or closed meanwhile (the result belongs to nobody). */
  function settle(id: WorkerId, target: Target, token: object, result: ProbeResult): void {
    if (targets.get(id) !== target || target.inFlight !== token) return;
    target.inFlight = undefined;
    applyResult(id, target, result);
  }

  function startProbe(id: WorkerId, target: Target): void {
    const token = {};
    target.inFlight = token;
    // Built-in probes never reject; an injected one that does counts as a failed probe.
    const settled = probe(target.port, undefined, target.host).catch(
      (error: unknown): ProbeResult => ({ ok: false, reason: error instanceof Error ? error.message : String(error) }),
    );
    void settled.then((result) => settle(id, target, token, result));
  }

  function applyResult(id: WorkerId, target: Target, result: ProbeResult): void {
    if (!result.ok && result.local === true) return; // this process is out of descriptors: nothing learnt of the worker
    const change = target.tracker.record(result.ok, now());
    if (!result.ok) {
      options.onFailure?.(id, result.reason);
      if (change === 'became-unhealthy') {
        options.onChange(id, false, `failed ${health.unhealthyThreshold} consecutive health checks, last: ${result.reason}`);
      }
    } else if (change === 'became-healthy') {
      target.reportedTooLong = false;
      options.onChange(id, true, `passed ${health.healthyThreshold} consecutive health checks`);
    }
    checkOutageLength(id, target);
  }

  function checkOutageLength(id: WorkerId, target: Target): void {
    if (target.reportedTooLong || target.tracker.healthy) return;
    if (target.tracker.unhealthyForMs(now()) <= unhealthyLimitMs) return;
    target.reportedTooLong = true;
    options.onUnhealthyTooLong?.(id);
  }

  function forget(id: WorkerId): void {
    const target = targets.get(id);
    if (target !== undefined) target.inFlight = undefined;
    targets.delete(id);
  }

  return {
    watch(id, port, host) {
      forget(id);
      targets.set(id, {
        port,
        host,
        tracker: createHealthTracker(thresholds),
        inFlight: undefined,
        due: Date.now() + Math.floor(Math.random() * health.intervalMs),
        reportedTooLong: false,
      });
      startTimer();
    },

    unwatch(id) {
      forget(id);
      stopTimerWhenIdle();
    },

    passiveFailure(id, reason) {
      const target = targets.get(id);
      if (target === undefined) return;
      options.onFailure?.(id, reason);
      if (target.tracker.failNow(now()) === 'became-unhealthy') {
        options.onChange(id, false, `connection failed: ${reason}`);
      }
    },

    isHealthy(id) {
      return targets.get(id)?.tracker.healthy;
    },

    close() {
      for (const id of [...targets.keys()]) forget(id);
      stopTimerWhenIdle();
    },
  };
}
