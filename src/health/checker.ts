// Active health checks of ready workers. One interval timer drives every
// target: each tick probes all watched ports concurrently, feeds the results
// through each target's rise/fall tracker and reports only state changes.
// A probe still running from an earlier tick is not started again, so a hung
// worker never piles up sockets.

import { createHealthTracker, type HealthTracker } from '../core/health-tracker.js';
import type { HealthConfig, WorkerId } from '../core/types.js';
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
  /** Replaces the configured probe (tests). */
  readonly probe?: PortProbe;
  /** Clock (tests). */
  readonly now?: () => number;
}

export interface HealthChecker {
  /** Start probing a ready worker; it starts healthy. Watching a known id again replaces its port and history. */
  watch(id: WorkerId, port: number): void;
  /** Stop probing (the worker is draining or gone); a probe in flight is aborted and its result ignored. */
  unwatch(id: WorkerId): void;
  /** The front failed to connect: eject at once (see HealthTracker.failNow). */
  passiveFailure(id: WorkerId, reason: string): void;
  /** Whether a watched target is in rotation; undefined for an unknown id. */
  isHealthy(id: WorkerId): boolean | undefined;
  /** Stop the timer and abort every probe in flight. */
  close(): void;
}

interface Target {
  readonly port: number;
  readonly tracker: HealthTracker;
  /** Set while a probe runs; aborting it drops the result. */
  inFlight: AbortController | undefined;
  /** onUnhealthyTooLong fired for the current outage. */
  reportedTooLong: boolean;
}

/** Callbacks run synchronously and must not throw (they should only enqueue events). */
export function createHealthChecker(options: HealthCheckerOptions): HealthChecker {
  const { health, unhealthyLimitMs } = options;
  const probe = options.probe ?? makeProbe(health, options.host);
  const now = options.now ?? Date.now;
  const thresholds = { healthyThreshold: health.healthyThreshold, unhealthyThreshold: health.unhealthyThreshold };
  const targets = new Map<WorkerId, Target>();
  let timer: NodeJS.Timeout | undefined;

  function startTimer(): void {
    if (timer !== undefined) return;
    timer = setInterval(probeAll, health.intervalMs);
    // Probing alone must not keep a stopping supervisor alive.
    timer.unref();
  }

  function stopTimerWhenIdle(): void {
    if (targets.size > 0 || timer === undefined) return;
    clearInterval(timer);
    timer = undefined;
  }

  function probeAll(): void {
    for (const [id, target] of targets) {
      checkOutageLength(id, target);
      if (target.inFlight === undefined) startProbe(id, target);
    }
  }

  function startProbe(id: WorkerId, target: Target): void {
    const controller = new AbortController();
    target.inFlight = controller;
    // Built-in probes never reject; an injected one that does counts as a failed probe.
    const settled = probe(target.port, controller.signal).catch(
      (error: unknown): ProbeResult => ({ ok: false, reason: error instanceof Error ? error.message : String(error) }),
    );
    void settled.then((result) => {
      // Unwatched, re-watched or closed meanwhile: the result belongs to nobody.
      if (controller.signal.aborted || targets.get(id) !== target) return;
      target.inFlight = undefined;
      applyResult(id, target, result);
    });
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
    targets.get(id)?.inFlight?.abort();
    targets.delete(id);
  }

  return {
    watch(id, port) {
      forget(id);
      targets.set(id, {
        port,
        tracker: createHealthTracker(thresholds),
        inFlight: undefined,
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
