// Rise/fall health thresholds for one target, as cloud load balancers and
// HAProxy apply them: a healthy target is taken out of rotation after
// `unhealthyThreshold` consecutive failed probes, and an unhealthy one comes back
// after `healthyThreshold` consecutive passes. A single result of the other kind
// resets the streak, so a flapping target neither leaves nor returns.
//
// Pure: no timers, no clock. Callers pass `nowMs` in, which keeps the
// "unhealthy for too long" rule testable by tables.

export interface HealthThresholds {
  /** Consecutive passes before an unhealthy target takes traffic again (>= 1). */
  readonly healthyThreshold: number;
  /** Consecutive failures before a healthy target is taken out of rotation (>= 1). */
  readonly unhealthyThreshold: number;
}

/** What a recorded result changed; undefined when the target kept its state. */
export type HealthTransition = 'became-healthy' | 'became-unhealthy' | undefined;

export interface HealthTracker {
  /** True while the target may receive traffic. A tracker starts healthy: it is
   *  created when its worker became ready, which already took a passing probe. */
  readonly healthy: boolean;
  /** Length of the current streak of passes (while unhealthy) or failures (while healthy). */
  readonly streak: number;
  /** When the target was taken out of rotation; undefined while healthy. */
  readonly unhealthySinceMs: number | undefined;
  /** Apply one active probe result. */
  record(pass: boolean, nowMs: number): HealthTransition;
  /**
   * A passive failure: the front could not even connect to the target.
   * It ejects the target at once instead of waiting for `unhealthyThreshold`
   * failures — a refused connect means nothing listens on that port any more
   * (the process crashed or is restarting), so every client sent there until
   * the next probes would be sent to a dead port. The front already retries
   * the refused connection on another backend; active probes bring the target
   * back after `healthyThreshold` passes. On an already unhealthy target it
   * restarts the count of passes needed to return.
   */
  failNow(nowMs: number): HealthTransition;
  /** How long the target has been out of rotation; 0 while healthy. */
  unhealthyForMs(nowMs: number): number;
}

export function createHealthTracker(thresholds: HealthThresholds): HealthTracker {
  assertThreshold('healthyThreshold', thresholds.healthyThreshold);
  assertThreshold('unhealthyThreshold', thresholds.unhealthyThreshold);

  let healthy = true;
  let streak = 0;
  let unhealthySinceMs: number | undefined;

  function becomeUnhealthy(nowMs: number): HealthTransition {
    healthy = false;
    streak = 0;
    unhealthySinceMs = nowMs;
    return 'became-unhealthy';
  }

  function becomeHealthy(): HealthTransition {
    healthy = true;
    streak = 0;
    unhealthySinceMs = undefined;
    return 'became-healthy';
  }

  return {
    get healthy() {
      return healthy;
    },
    get streak() {
      return streak;
    },
    get unhealthySinceMs() {
      return unhealthySinceMs;
    },

    record(pass, nowMs) {
      // The streak counts results that argue for leaving the current state.
      const towardsChange = healthy ? !pass : pass;
      if (!towardsChange) {
        streak = 0;
        return undefined;
      }
      streak += 1;
      if (healthy && streak >= thresholds.unhealthyThreshold) return becomeUnhealthy(nowMs);
      if (!healthy && streak >= thresholds.healthyThreshold) return becomeHealthy();
      return undefined;
    },

    failNow(nowMs) {
      if (healthy) return becomeUnhealthy(nowMs);
      streak = 0;
      return undefined;
    },

    unhealthyForMs(nowMs) {
      return unhealthySinceMs === undefined ? 0 : Math.max(0, nowMs - unhealthySinceMs);
    },
  };
}

function assertThreshold(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be an integer >= 1, got ${String(value)}`);
  }
}
